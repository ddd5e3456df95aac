//! End-to-end tests of the TLS, SMTP and DNS dissectors: `spanwatch replay`
//! over real captures, each extracted value compared with what tshark
//! (Wireshark) 4.0.17 extracts from the same file. The tshark values are
//! recorded here as literals, with the command that produced them; tshark is
//! not needed to run the tests. Where tshark is wrong the expected value
//! follows the RFC and a comment says why.
//!
//! The public captures live in `../shared/pcaps` (tests skip visibly when it
//! is absent); the loopback captures are in the repository (`pcaps/loopback`,
//! expected values in its README).

mod common;
use common::{bin, repo, shared_pcaps, tmpdir};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// `loopback/...` is in the repository, everything else in the shared set.
fn capture(rel: &str) -> Option<PathBuf> {
    if let Some(l) = rel.strip_prefix("loopback/") {
        return Some(repo().join("pcaps/loopback").join(l));
    }
    shared_pcaps().map(|d| d.join(rel))
}

/// Replays one file with one worker and returns the EVE records.
fn replay(file: &Path) -> Vec<Value> {
    let out = bin()
        .arg("replay")
        .arg(file)
        .args(["--eve", "-", "-q", "--workers", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: exit {:?}, stderr {}",
        file.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("EVE is UTF-8");
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}"))
        })
        .collect()
}

fn of_type<'a>(recs: &'a [Value], t: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["event_type"] == t).collect()
}

/// Every dissector event carries its protocol as `app_proto`.
fn assert_app_proto(recs: &[Value]) {
    for r in recs {
        let t = r["event_type"].as_str().unwrap_or("");
        if matches!(t, "tls" | "smtp" | "dns") {
            assert_eq!(r["app_proto"], t, "{r}");
        }
    }
}

fn version_name(v: u16) -> &'static str {
    match v {
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "?",
    }
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/// One row per handshake (first ClientHello of a connection):
/// (file, client port, SNI, ClientHello version, JA3, JA3S, negotiated version).
///
/// ```text
/// tshark -r F -d tcp.port==4433,tls -d tcp.port==9090,tls -d tcp.port==9443,tls \
///   -Y tls.handshake.type==1 -T fields -e tcp.stream -e tcp.srcport \
///   -e tls.handshake.extensions_server_name -e tls.handshake.version -e tls.handshake.ja3
/// tshark ... -Y tls.handshake.type==2 -T fields -e tcp.stream \
///   -e tls.handshake.extensions.supported_version -e tls.handshake.version -e tls.handshake.ja3s
/// ```
/// joined on `tcp.stream`; the negotiated version is the ServerHello's
/// supported_version, else its version. tshark gives no JA3 for the three
/// SSLv2-format ClientHellos of the Retina sweep (ports 39028, 39035, 39036);
/// neither does spanwatch.
const TLS_HANDSHAKES: &[(&str, u16, &str, u16, &str, &str, u16)] = &[
    (
        "tls/retina_tls_ciphers.pcap",
        38964,
        "",
        0x0303,
        "d092a941ea714ee8a125b386f788d07a",
        "f6e234011390444c303f74d09d87322d",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42376,
        "",
        0x0303,
        "7b5ea70ba7683fde02963013aa35692a",
        "f7298b23ee1c5f97d563c1aa3911aba0",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38966,
        "",
        0x0303,
        "f3604abe15b08e862a514621e6413ac8",
        "ffa032a47d117f14aea615048673fcf0",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42378,
        "",
        0x0303,
        "9ca5d5a8abe866a8bb8e899a9fa13b5d",
        "2c67764339065b07a5652e920d066ab5",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38968,
        "",
        0x0303,
        "29d8afc9e0a4d38d138ec2643966815f",
        "0dd7037db96e4a22ccb913541d1885e7",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42380,
        "",
        0x0303,
        "96d785865e736e2390bb26490e8cd067",
        "4c2ecddc29a6bc32383e336924e23e8c",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56711,
        "",
        0x0303,
        "14d530749dd44281a6a098988cda6a7e",
        "90c61065e0afe73783eea17b567a2784",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38971,
        "",
        0x0303,
        "3b8af0a17977c633e93619e4997ee00c",
        "ee644a8a34c434abca4b737ec1d9efad",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38972,
        "",
        0x0303,
        "4cd7bd95c7661a83e7c24945af949354",
        "c19042a0cf5d1ac94087791426312134",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56714,
        "",
        0x0303,
        "0f6a714aeb10c2f8bd65a6891e9b135b",
        "cb1bf6ffdcb98f765df7d8bfb6ec3c79",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38974,
        "",
        0x0303,
        "eb2fffce23082a92910b748f700ac88d",
        "736c8eecc839cf63fa5882fead17860a",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56716,
        "",
        0x0303,
        "3b4196998800b062be8c8a9b5f840518",
        "b8e123879061111993e718fd478ea131",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38976,
        "",
        0x0303,
        "de84fb3130387884de22865d3d39d347",
        "baf6ae54beddc6b7cd8b02c8feb62ffe",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56718,
        "",
        0x0303,
        "783056b239cc835284c0893cfbebdfff",
        "c934333bebcc7f40802991b86810b4ff",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48835,
        "",
        0x0303,
        "7fa30aacce1842b7709c4bf738b1981a",
        "08d6fcf9a824e474cc409cf996f8f79c",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42390,
        "",
        0x0303,
        "91dc880386b6e00cc4689352785e6e31",
        "0ccc69464c6284d31721e2bccac1ddc5",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48837,
        "",
        0x0303,
        "5150ec0571a0efd1e69be8c21ab4b379",
        "e348ea8eaf7a3747819f6513de771094",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42392,
        "",
        0x0303,
        "5f0eb38debcdc5d0ff085ad250e8d24f",
        "9ef5e053b071d2d27409dea8b88dcbc4",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48839,
        "",
        0x0303,
        "02c2788dc45abbb57542e4f23c598b81",
        "fc4cabe8e13fb34f6c8e3465adea2df6",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42394,
        "",
        0x0303,
        "d7fff7ab6f11967ae66260d4abbf443d",
        "d783d96f6f4d41f35d9b63ed51005e36",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38984,
        "",
        0x0303,
        "af4e5c808bbe2968db349a5bb33b6e5d",
        "4b505adfb4a921c5a3a39d293b0811e1",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38985,
        "",
        0x0303,
        "be7bb219fb0c1ed253b975a680c220f7",
        "c8e0c37327d4367fc2ea6d8cf48c6a07",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38986,
        "",
        0x0303,
        "becc4f9ddac44937b351d19c210808d1",
        "0e2a1b17838ac145f31022fcdcfb9dbb",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38987,
        "",
        0x0303,
        "7172cdbc708cdb82a677ce5c56f3fb90",
        "98962bd928b9d2ceee5bdbefb611fe3b",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38988,
        "",
        0x0303,
        "85f8e044eec7c748656415a5c8c2c011",
        "28810a5c2035965397b04ef46fe633da",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42400,
        "",
        0x0303,
        "8a9fac2380acef7ba73a0da946ddc6ae",
        "dc0e3bde1051a0840dafb158458d0b30",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38990,
        "",
        0x0303,
        "5fa9f54eb7b3b209ff1fb1690cbf6645",
        "ac99862f43a28344457e09d954145ffb",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56732,
        "",
        0x0303,
        "ad78e4bcfa08b2494c5a19aa7e78a988",
        "5a141a152183838f037b32848b04f4b8",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48849,
        "",
        0x0303,
        "1678401960d8323cc1161fd6fa25ec16",
        "846c409244f5398782a39eb8d73be396",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42404,
        "",
        0x0303,
        "900a157715182f0c098a2adbcce9f18d",
        "3ccce530b450c0df4d5ebfa6707225d6",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38994,
        "",
        0x0303,
        "993ae4c41d4261ce4c08e88d24eb80ce",
        "a9b538ac59ded2db3ce8e8256c2d4c22",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38995,
        "",
        0x0303,
        "61603b4f3b9f94b81f2600bc5b3796b2",
        "ada793d0f02b028a6c840504edccb652",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42407,
        "",
        0x0303,
        "c3942111501ac482fc4ae02c4c135c12",
        "6ce5b396167553eefc3fc5cbc4a16a02",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38997,
        "",
        0x0303,
        "5c42096c9bbfed9b73c2fb9d7fb6ecf7",
        "26571c449e25d0a434521fc170c6e315",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42409,
        "",
        0x0303,
        "f5bed2802525f7a53ea491a283df94d2",
        "fed2bfdf73f76ce476881b716fc6e465",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        38999,
        "",
        0x0303,
        "3de1b0b62905d6d2adefce901175f716",
        "f1d5536ea75fda54c1ec80201329249b",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42411,
        "",
        0x0303,
        "5ce52be83bca88c2054f3912e033573e",
        "32704515a7936cf0fecd75e30bc5ee2e",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56742,
        "",
        0x0303,
        "81bbe78cb4a9a07cd6ac3f4a00c85581",
        "45679c8b9dc65144cbf4faf86cc56361",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39002,
        "",
        0x0303,
        "1456945f31c00f43486fcebb16afb6f1",
        "d6fdd7c49d6e5bc3c140fefe03098526",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39003,
        "",
        0x0303,
        "e930e38d8889f2200c26a84cbaee4fa2",
        "e161c92e4de10a90a2f8800f511d090a",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56745,
        "",
        0x0303,
        "8cbb738331abee1ec907b2b83e707b2a",
        "8e4314f117b5e012d0a806ace00cf31e",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39005,
        "",
        0x0303,
        "36a96aff618c3abb546bdbec7a61b92e",
        "919f16382e86f0e28394246734d202f8",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56747,
        "",
        0x0303,
        "1ea9b7797b866aa45062aadff2a2376b",
        "007fb75c7e9948ea2202dc1d23e1fcd3",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39007,
        "",
        0x0303,
        "515d8be2d87b5ab117ee3664259162d0",
        "b0ebe9d30e65566c16d0c776850aec9f",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56749,
        "",
        0x0303,
        "217360f452e8546a83e7924d8b400628",
        "2e3dac8b1d9b781887d0567ae26f9976",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39009,
        "",
        0x0303,
        "7c6a8ac04877dc2cc3aab9b420addc74",
        "566127afa40623728994fe69e73e59a0",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56751,
        "",
        0x0303,
        "e9e20532e5ae68b3fbd5e92bf28c4f7d",
        "61bd52a639da218c54c19610b0edb361",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48868,
        "",
        0x0303,
        "f03b59a85287da238160ad7b06bf3545",
        "a8988e738b21a2fbf496ca3487c5e9aa",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42423,
        "",
        0x0303,
        "798f9e15376fa44422e93d12aba7e68e",
        "6b86663d99841e91f745d1089169d212",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48870,
        "",
        0x0303,
        "1d230188e6012267940c7b83af664ea4",
        "9cc192270d692293af544afdbdd1f5f8",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42425,
        "",
        0x0303,
        "089587f52d3fcbf6540e9524ae7bc989",
        "7e91025e2fc16e85ef865d5526fd5919",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48872,
        "",
        0x0303,
        "7ce4c513b63ed3d45a022f977991e3cc",
        "d51d4fb16ca59aafe3e4aefb891ada59",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42427,
        "",
        0x0303,
        "0757a8488a3ce6b424bd0125d4dd9746",
        "1ba9868e1e20d8199f93956e3cb12155",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39017,
        "",
        0x0303,
        "05b0b229680da642ba9cd0c3efb3abeb",
        "20e0bd1c4d36e08a1f31656fb48b99a0",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39018,
        "",
        0x0303,
        "24df19ec81c600884f9c99e932545b5e",
        "b2e54492a0c020b8bda450e7ce1b735a",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39019,
        "",
        0x0303,
        "4ca5b7a4ac1cb43284f26f312d508b2d",
        "6d7cffc522e9a313f2786178efeef7cb",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39020,
        "",
        0x0303,
        "07f1411512dce85dd9b16b1f429d60a0",
        "97a2dfa78316a3b027e1e4ca7a0d457a",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39021,
        "",
        0x0303,
        "f39583d5c37e8440e838ac24a782f713",
        "484ada4d04e8b85700b9f4efabd9f3b1",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39022,
        "",
        0x0303,
        "3206e6a1083bdb9a9885bad0a8ba391b",
        "c93da974d47b416766c8cf824633020d",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39023,
        "",
        0x0303,
        "3a1c970244d5391c5363bfe41d98e2de",
        "5b28cc9c8881b1059ddf418820f31c79",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42435,
        "",
        0x0303,
        "bae8f9349da096fa1411acdfc9ec2903",
        "2ace0e6bfe3b9db4d19720f56488ed26",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        48882,
        "",
        0x0303,
        "35d80e1169b276901a3e1a58ebfdca42",
        "0ef93fba5f0ecb697a7418bfc732ed40",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        42437,
        "",
        0x0303,
        "c7561a61f2560e0f9bf041830b7d27ff",
        "269e7873a8e114bf9e4fbfd638d205da",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39027,
        "",
        0x0303,
        "cb16131f1ba0138dbf577d6320ea578a",
        "73452aa611184ed7af95e44dfaab7231",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39028,
        "",
        0x0303,
        "",
        "c253ec3ad88e42f8da4032682892f9a0",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39029,
        "",
        0x0303,
        "ae772b1164a5c1c6997a6ba2a4b08e3b",
        "07dee0fc303b4aa5f966a88168fb19a3",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56771,
        "",
        0x0303,
        "0d4c03886bd8d4abbb61526acdef22a2",
        "c939549a076a6c142e20a22f6ad74d84",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39031,
        "",
        0x0303,
        "88de2ecaacd33c66185488c8c93aa3b7",
        "364d7c79ca7a404d6bfd52daabb23c1e",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39032,
        "",
        0x0303,
        "993cd6b0cf01fbba672a85f230687a31",
        "ba9a2a17941e5ea5df2a43d91e2c0700",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        56774,
        "",
        0x0303,
        "8a9c58305e6712d0e8e065bb59777210",
        "a9ee9348c9becd8bb24a01819af124b6",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39034,
        "",
        0x0303,
        "891d4f85b521697ad71964daea116b6a",
        "226ec9c39463b1f9fbc4695731ffc70c",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39035,
        "",
        0x0303,
        "",
        "e2c6adb67eb7ac1e47640b4ef7df8a64",
        0x0303,
    ),
    (
        "tls/retina_tls_ciphers.pcap",
        39036,
        "",
        0x0303,
        "",
        "ade1324ecb5132cfa4bb0e10d4c32ad0",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap",
        38576,
        "www.google.com",
        0x0303,
        "a64c29923906f2a1be278be1da0714fa",
        "a27e76e64afe9199440ad714848966f8",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        59621,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        59690,
        "www.bing.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    // tshark 4.0.17 shows no ServerHello here: the port was reused after a RST and its
    // sequence analysis marks every server segment as a retransmission. With
    // `-o tcp.analyze_sequence_numbers:FALSE` it decodes frame 126: cipher 0xc028, this JA3S.
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        59691,
        "www.bing.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        59622,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        59949,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60000,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60034,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60035,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60037,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60038,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60051,
        "pagead2.googlesyndication.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60055,
        "www.havenyt.dk",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "8f69368f5a98710bba4a06ab66f32f13",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60060,
        "www.coffeecircle.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "eee507f1f6e3763fb7eb1c265e18d1f7",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60059,
        "www.coffeecircle.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "eee507f1f6e3763fb7eb1c265e18d1f7",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60061,
        "bedreboligliv.dk",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "f13312de25971fed436cb674ed104951",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60036,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60116,
        "mc.yandex.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b8d072db1f2e5be0acbae44d5808eca0",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60119,
        "googleads.g.doubleclick.net",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60122,
        "r20swj13mr.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "93898ef52448913e759eeb2841bd4a7d",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60123,
        "r20swj13mr.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "93898ef52448913e759eeb2841bd4a7d",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60124,
        "iecvlist.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "93898ef52448913e759eeb2841bd4a7d",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60136,
        "partner.googleadservices.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60137,
        "adservice.google.fr",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60138,
        "adservice.google.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60140,
        "mc.yandex.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b8d072db1f2e5be0acbae44d5808eca0",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60142,
        "mc.yandex.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b8d072db1f2e5be0acbae44d5808eca0",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60093,
        "madmaskiner.dk",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "f13312de25971fed436cb674ed104951",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60169,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60168,
        "mamzon.ru",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "0a1e44e4181198b5d2075f68539bf09e",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60172,
        "tpc.googlesyndication.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60182,
        "www.google.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60186,
        "pagead2.googlesyndication.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "b31c0b82752ea0e2c48b8ce46e9263e5",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60672,
        "ieonline.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60671,
        "ieonline.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60676,
        "go.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "a12e7cf312a93d444dbdbf19e8e25960",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60675,
        "go.microsoft.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "a12e7cf312a93d444dbdbf19e8e25960",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60680,
        "www.msn.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60681,
        "www.msn.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60687,
        "query.prod.cms.msn.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        60686,
        "query.prod.cms.msn.com",
        0x0303,
        "5182f54f9c6e99d117d9dde3fa2b4cff",
        "15381d64ba148f31a70eb87b53085230",
        0x0303,
    ),
    (
        "tls/zeek_chrome-1250-tls-x25519-kyber.pcap",
        13783,
        "lh3.google.com",
        0x0303,
        "9d33d8206d4fec4c8b1423c728f4cd3c",
        "eb1d94daa7e0344597e756a1fb6e7054",
        0x0304,
    ),
    (
        "tls/zeek_hrr.pcap",
        63564,
        "",
        0x0303,
        "0f14b679807628ec7f9c02cada3ee941",
        "15af977ce25de452b96affa2addb1036",
        0x0304,
    ),
    (
        "tls/zeek_tls-conn-with-extensions.pcap",
        62045,
        "ssl.gstatic.com",
        0x0301,
        "62351d5ea3cd4f21f697965b10a9bbbe",
        "e07f21892995126f4b539c02215c8456",
        0x0301,
    ),
    (
        "tls/zeek_tls1.2.pcap",
        56637,
        "",
        0x0303,
        "bd9c99b3a0f752c3ab8b052a79e9de3e",
        "c253ec3ad88e42f8da4032682892f9a0",
        0x0303,
    ),
    (
        "tls/zeek_tls13-ech.pcap",
        51066,
        "cloudflare-ech.com",
        0x0303,
        "2fcbf8655473005933c5869b2b5d8044",
        "f4febc55ea12b31ae17cfb7e614afda8",
        0x0304,
    ),
    (
        "tls/zeek_tls13-ech.pcap",
        51071,
        "cloudflare-ech.com",
        0x0303,
        "fa58f5ffd45a2d590a1677134966dc64",
        "f4febc55ea12b31ae17cfb7e614afda8",
        0x0304,
    ),
    (
        "tls/zeek_tls13_wolfssl.pcap",
        43056,
        "",
        0x0303,
        "39cef737bf0cabc32c28f95d09b97702",
        "907bf3ecef1c987c889946b737b43de8",
        0x0304,
    ),
    (
        "smtp/zeek_smtp-starttls.pcap",
        54170,
        "",
        0x0303,
        "13020a4ccb11b2d3c9c0e6c285c3c415",
        "ccc514751b175866924439bdbb5bba34",
        0x0303,
    ),
    (
        "smtp/zeek_smtp.pcap",
        49655,
        "p31-keyvalueservice.icloud.com",
        0x0303,
        "799135475da362592a4be9199d258726",
        "c253ec3ad88e42f8da4032682892f9a0",
        0x0303,
    ),
    (
        "loopback/tls12_openssl.pcap",
        38142,
        "www.example.test",
        0x0303,
        "22558766122974704364c9c75c5cce0a",
        "895252f3ce80cebf7a8837be83ec8e16",
        0x0303,
    ),
    (
        "loopback/tls13_openssl.pcap",
        38154,
        "www.example.test",
        0x0303,
        "9dffdb8b608a430b774a2ff7d36c1a0c",
        "15af977ce25de452b96affa2addb1036",
        0x0304,
    ),
    (
        "loopback/tls_curl.pcap",
        43722,
        "www.example.test",
        0x0303,
        "0149f47eabf9a20d0893e2a44e5a6323",
        "15af977ce25de452b96affa2addb1036",
        0x0304,
    ),
    (
        "loopback/smtp_starttls_aiosmtpd.pcap",
        44248,
        "mail.example.test",
        0x0303,
        "93c7d42c0df602fb91589311534831f5",
        "15af977ce25de452b96affa2addb1036",
        0x0304,
    ),
];

#[test]
fn tls_every_capture_matches_tshark_sni_version_ja3_ja3s() {
    if shared_pcaps().is_none() {
        return;
    }
    let mut by_file: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for row in TLS_HANDSHAKES {
        by_file.entry(row.0).or_default().push(row);
    }
    // Every TLS capture of the shared set is covered.
    let tls_dir = shared_pcaps().unwrap().join("tls");
    for f in std::fs::read_dir(&tls_dir).unwrap() {
        let name = format!("tls/{}", f.unwrap().file_name().to_string_lossy());
        assert!(
            by_file.contains_key(name.as_str()),
            "{name} has no expected values"
        );
    }
    let mut failures = Vec::new();
    for (file, rows) in &by_file {
        let recs = replay(&capture(file).unwrap());
        assert_app_proto(&recs);
        let tls = of_type(&recs, "tls");
        if tls.len() != rows.len() {
            failures.push(format!(
                "{file}: {} tls events, expected {}",
                tls.len(),
                rows.len()
            ));
        }
        for (_, port, sni, chv, ja3, ja3s, ver) in rows {
            let Some(e) = tls.iter().find(|e| e["src_port"] == *port) else {
                failures.push(format!("{file}: no tls event for client port {port}"));
                continue;
            };
            let t = &e["tls"];
            let want_sni = if sni.is_empty() {
                Value::Null
            } else {
                (*sni).into()
            };
            let want_ja3 = if ja3.is_empty() {
                Value::Null
            } else {
                (*ja3).into()
            };
            let got = (
                &t["sni"],
                &t["client_handshake"]["version"],
                &t["ja3"]["hash"],
                &t["ja3s"]["hash"],
                &t["version"],
            );
            let want = (
                &want_sni,
                &version_name(*chv).into(),
                &want_ja3,
                &(*ja3s).into(),
                &version_name(*ver).into(),
            );
            if got != want {
                failures.push(format!("{file}:{port}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn tls_events(rel: &str) -> Option<Vec<Value>> {
    let recs = replay(&capture(rel)?);
    Some(of_type(&recs, "tls").into_iter().cloned().collect())
}

#[test]
fn tls_ja4_matches_the_published_and_verified_values() {
    // JA4 of Chrome 12x with the X25519Kyber768 key share: FoxIO's
    // ja4plus-mapping.csv lists t13d1516h2_8daaf6152771_02713d6af862 for
    // Chromium (the value the parser tests verify).
    let Some(ev) = tls_events("tls/zeek_chrome-1250-tls-x25519-kyber.pcap") else {
        return;
    };
    assert_eq!(ev[0]["tls"]["ja4"], "t13d1516h2_8daaf6152771_02713d6af862");
    assert_eq!(
        ev[0]["tls"]["client_alpns"],
        serde_json::json!(["h2", "http/1.1"])
    );
    // tshark: supported_versions 0x8a8a (GREASE), 0x0304, 0x0303; key_share
    // groups 51914 (GREASE), 25497 (X25519Kyber768Draft00), 29;
    // tls.handshake.length 1747; chosen cipher 0x1301.
    let ch = &ev[0]["tls"]["client_handshake"];
    assert_eq!(
        ch["supported_versions"],
        serde_json::json!(["0x8a8a", "TLS 1.3", "TLS 1.2"])
    );
    assert_eq!(
        ch["key_share_groups"],
        serde_json::json!([51914, 25497, 29])
    );
    assert_eq!(ch["length"], 1747);
    assert_eq!(ev[0]["tls"]["server_handshake"]["cipher"], 0x1301);
    // Chrome with ECH: both connections have the same JA4 (the extension
    // order is shuffled, so the JA3s differ, see the table above).
    let ev = tls_events("tls/zeek_tls13-ech.pcap").unwrap();
    assert_eq!(ev.len(), 2);
    for e in &ev {
        let t = &e["tls"];
        assert_eq!(t["ja4"], "t13d1517h2_8daaf6152771_b1ff8ab2d16f");
        // The outer (public) name; the inner one is encrypted.
        assert_eq!(
            (&t["ech"], &t["ech_type"], &t["sni"]),
            (&true.into(), &"outer".into(), &"cloudflare-ech.com".into())
        );
    }
}

#[test]
fn tls_loopback_openssl_and_curl_match_the_readme() {
    // pcaps/loopback/README.md: JA3 full strings and JA3S from tshark.
    let ev = tls_events("loopback/tls12_openssl.pcap").unwrap();
    let t = &ev[0]["tls"];
    assert_eq!(
        t["ja3"]["string"],
        "771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-35-16-22-23-13,29-23-30-25-24,0-1-2"
    );
    assert_eq!(t["ja3s"]["string"], "771,49200,65281-11-35-16-23");
    assert_eq!(t["server_handshake"]["cipher_hex"], "0xc030");
    assert_eq!(t["client_alpns"], serde_json::json!(["h2", "http/1.1"]));
    assert_eq!(t["server_alpns"], serde_json::json!(["h2"]));
    // The certificate is in clear in TLS 1.2.
    assert_eq!(
        t["subject"],
        "CN=www.example.test, O=spanwatch loopback test"
    );
    assert_eq!(t["issuerdn"], t["subject"], "self-signed");
    assert_eq!(t["subjectaltname"], serde_json::json!(["www.example.test"]));
    assert_eq!(
        t["client_handshake"]["ciphers"].as_array().unwrap().len(),
        28
    );

    let ev = tls_events("loopback/tls13_openssl.pcap").unwrap();
    let t = &ev[0]["tls"];
    assert_eq!(
        t["ja3"]["string"],
        "771,4866-4867-4865-255,0-11-10-35-16-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2"
    );
    assert_eq!(t["ja3s"]["string"], "771,4866,43-51");
    assert_eq!(
        t["client_handshake"]["supported_versions"],
        serde_json::json!(["TLS 1.3"])
    );
    // TLS 1.3: the certificate and the server's ALPN are encrypted.
    assert!(t.get("subject").is_none() && t.get("server_alpns").is_none());

    let ev = tls_events("loopback/tls_curl.pcap").unwrap();
    let t = &ev[0]["tls"];
    assert_eq!(
        t["ja3"]["string"],
        "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2"
    );
    assert_eq!(t["client_alpns"], serde_json::json!(["http/1.1"]));
    assert_eq!(
        t["client_handshake"]["supported_versions"],
        serde_json::json!(["TLS 1.3", "TLS 1.2", "TLS 1.1", "TLS 1.0"])
    );
}

#[test]
fn tls_on_ports_9090_and_4433_is_found_by_content() {
    for (rel, port) in [
        ("loopback/tls12_openssl.pcap", 4433),
        ("loopback/tls13_openssl.pcap", 4433),
        ("loopback/tls_curl.pcap", 9443),
        ("tls/zeek_tls13_wolfssl.pcap", 9090),
    ] {
        let Some(p) = capture(rel) else { continue };
        let recs = replay(&p);
        let flows = of_type(&recs, "flow");
        assert_eq!(flows.len(), 1, "{rel}");
        assert_eq!(
            (&flows[0]["dest_port"], &flows[0]["app_proto"]),
            (&port.into(), &"tls".into()),
            "{rel}"
        );
        assert_eq!(of_type(&recs, "tls").len(), 1, "{rel}");
    }
}

#[test]
fn tls_hello_retry_request_is_one_event_with_both_client_hellos() {
    let Some(ev) = tls_events("tls/zeek_hrr.pcap") else {
        return;
    };
    assert_eq!(ev.len(), 1);
    let t = &ev[0]["tls"];
    assert_eq!(t["hello_retry_request"], true);
    // tshark: record versions 0x0301 then 0x0303; the same JA3 for both
    // hellos (0f14b679807628ec7f9c02cada3ee941); one ServerHello, the HRR
    // (cipher 0x1302, supported_version 0x0304, JA3S
    // 15af977ce25de452b96affa2addb1036). The answer to the second hello is not
    // in the capture, so the event is written at the end of the flow.
    assert_eq!(t["client_handshake"]["record_version"], "TLS 1.0");
    assert_eq!(t["client_retry"]["record_version"], "TLS 1.2");
    assert_eq!(
        t["client_retry_ja3"]["hash"],
        "0f14b679807628ec7f9c02cada3ee941"
    );
    assert_eq!(t["hello_retry"]["cipher_hex"], "0x1302");
    assert_eq!(t["hello_retry"]["selected_version"], "TLS 1.3");
    assert_eq!(t["ja3s"]["hash"], "15af977ce25de452b96affa2addb1036");
    assert!(t.get("server_handshake").is_none());
    assert_ne!(
        t["client_handshake"]["key_share_groups"],
        t["client_retry"]["key_share_groups"]
    );
}

#[test]
fn tls12_certificate_fields_come_from_the_leaf_certificate() {
    // openssl x509 -noout -fingerprint -sha1 -serial -subject -dates
    // -ext subjectAltName on the leaf certificate tshark exports
    // (tls.handshake.certificate), as in the parser tests.
    let Some(ev) = tls_events("tls/zeek_tls1.2.pcap") else {
        return;
    };
    let t = &ev[0]["tls"];
    assert_eq!(
        t["fingerprint"],
        "33:67:a1:82:4a:60:13:c0:2a:3e:25:bb:e4:da:86:33:87:fa:f1:34"
    );
    assert_eq!(
        t["serial"],
        "00:99:FA:A8:03:7A:4E:B2:FA:EF:84:EB:5E:55:D5:B8:C8"
    );
    assert_eq!(
        t["subject"],
        "C=US, postalCode=94568, ST=CA, L=Dublin, street=Suite 400, street=4140 Dublin Boulevard, \
         O=Taleo Inc., OU=Web, OU=Comodo PremiumSSL Wildcard, CN=*.taleo.net"
    );
    assert_eq!(
        (&t["notbefore"], &t["notafter"]),
        (&"2011-05-04T00:00:00".into(), &"2016-07-04T23:59:59".into())
    );
    assert_eq!(
        t["subjectaltname"],
        serde_json::json!(["*.taleo.net", "taleo.net"])
    );
    // The ClientHello spread over several segments (MTU 300).
    let ev = tls_events("tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap").unwrap();
    let t = &ev[0]["tls"];
    assert_eq!(t["subject"], "CN=www.google.com");
    assert_eq!(
        t["issuerdn"],
        "C=US, O=Google Trust Services LLC, CN=GTS CA 1C3"
    );
    assert_eq!(
        t["serial"],
        "00:BB:2A:80:CC:14:FC:DD:BC:12:02:B2:A0:86:BD:1D:17"
    );
    assert_eq!(t["server_alpns"], serde_json::json!(["h2"]));
}

// ---------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------

/// One SMTP transaction as tshark sees it.
struct Tx {
    file: &'static str,
    client_port: u16,
    helo: &'static str,
    mail_from: &'static str,
    /// RCPT TO paths with the reply code (0: no reply in the capture).
    rcpts: &'static [(&'static str, u16)],
    /// Attachment file names (decoded).
    attachments: &'static [&'static str],
    subject: &'static str,
}

/// ```text
/// tshark -r F -Y smtp.req.command -T fields -e tcp.srcport -e smtp.req.command -e smtp.req.parameter
/// tshark -r F -Y smtp.response.code -T fields -e tcp.stream -e smtp.response.code
/// tshark -r F -Y imf -T fields -E occurrence=a -e imf.from -e imf.subject \
///   -e mime_multipart.header.content-disposition
/// ```
/// tshark prints paths as `FROM:<a@b>` (the bug-5981 client writes
/// `FROM: <a@b>`); the expected value is the path between the brackets.
const SMTP_TXS: &[Tx] = &[
    Tx {
        file: "smtp/suricata-verify_smtp-attachment-md5.pcap",
        client_port: 39202,
        helo: "linuxbox",
        mail_from: "gavin.shrubbery@gmail.com",
        rcpts: &[("172.16.92.2@linuxbox", 250)],
        // attachment;filename=EICAR-Test-File
        attachments: &["EICAR-Test-File"],
        subject: "This is a test email",
    },
    Tx {
        file: "smtp/suricata-verify_smtp-bug-5981.pcap",
        client_port: 3326,
        helo: "Percival",
        mail_from: "xxxxxx@xxxxx.co.uk",
        rcpts: &[("xxxxxx@xxxxx.co.uk", 250)],
        attachments: &["winmail.dat"],
        subject: "Testing testing 1 2 3 (Multiple attachments)",
    },
    Tx {
        // tshark does not dissect BDAT bodies (no imf): the attachment name is
        // the Content-Disposition in `tshark -q -z follow,tcp,ascii,0`.
        file: "smtp/zeek_rfc3030-bdat-multipart-chunked.pcap",
        client_port: 38718,
        helo: "localhost",
        mail_from: "zeek@localhost",
        rcpts: &[("root@localhost", 250)],
        attachments: &["zeek-logo.png"],
        subject: "Zeek Logo",
    },
    Tx {
        // One-sided capture: client to server only, no replies.
        file: "smtp/zeek_smtp-attachment-msg.pcap",
        client_port: 56660,
        helo: "localhost.localdomain",
        mail_from: "sender@example.com",
        rcpts: &[("recipient@example.com", 0)],
        attachments: &["test.msg"],
        subject: "subject",
    },
    Tx {
        file: "smtp/zeek_smtp.pcap",
        client_port: 1470,
        helo: "GP",
        mail_from: "gurpartap@patriots.in",
        rcpts: &[("raj_deol2002in@yahoo.co.in", 250)],
        attachments: &["NEWS.txt"],
        subject: "SMTP",
    },
    Tx {
        file: "smtp/zeek_smtp.pcap",
        client_port: 49648,
        helo: "[192.168.133.100]",
        mail_from: "albert@example.com",
        rcpts: &[
            ("ericlim220@yahoo.com", 250),
            ("felica4uu@hotmail.com", 250),
            ("davis_mark1@outlook.com", 250),
        ],
        attachments: &[],
        subject: "Re: Bro SMTP CC Header",
    },
    Tx {
        file: "loopback/smtp_plain_aiosmtpd.pcap",
        client_port: 55704,
        helo: "ws042.corp.example.test",
        mail_from: "j.doe@corp.example.test",
        rcpts: &[
            ("user01@example.net", 250),
            ("user02@example.net", 250),
            ("user03@example.net", 250),
            ("user04@example.net", 250),
            ("user05@example.net", 250),
            ("user06@example.net", 250),
            ("user07@example.net", 250),
            ("user08@example.net", 250),
            ("user09@example.net", 250),
            ("user10@example.net", 250),
            ("finance01@example.org", 250),
            ("finance02@example.org", 250),
            ("finance03@example.org", 250),
            ("finance04@example.org", 250),
            ("finance05@example.org", 250),
            ("audit01@example.com", 250),
            ("audit02@example.com", 250),
            ("audit03@example.com", 250),
            ("audit04@example.com", 250),
            ("audit05@example.com", 250),
            ("audit06@example.com", 250),
            ("audit07@example.com", 250),
            ("audit08@example.com", 250),
            ("former.employee@example.org", 550),
            ("nosuchuser@example.net", 550),
        ],
        // tshark shows the raw parameters: filename="Credit Transfer Copy.html",
        // filename*=utf-8''%C3%9Cberweisungsbeleg%20M%C3%A4rz%202024.pdf (RFC 2231),
        // filename="=?UTF-8?B?UmVjaG51bmdfw5xiZXJzaWNodF8wNDE1LnppcA==?=" (RFC 2047);
        // decoded as in the README.
        attachments: &[
            "Credit Transfer Copy.html",
            "Überweisungsbeleg März 2024.pdf",
            "Rechnung_Übersicht_0415.zip",
        ],
        subject: "Credit transfer copy – TRX-2024-0415",
    },
    Tx {
        file: "loopback/smtp_plain_aiosmtpd.pcap",
        client_port: 55704,
        helo: "ws042.corp.example.test",
        mail_from: "j.doe@corp.example.test",
        rcpts: &[("user03@example.net", 250)],
        attachments: &[],
        subject: "",
    },
    Tx {
        file: "loopback/smtp_plain_aiosmtpd.pcap",
        client_port: 55704,
        helo: "ws042.corp.example.test",
        mail_from: "j.doe@corp.example.test",
        rcpts: &[("user01@example.net", 250), ("user02@example.net", 250)],
        attachments: &[],
        subject: "Re: lunch",
    },
];

#[test]
fn smtp_every_capture_matches_tshark_envelope_and_attachments() {
    if shared_pcaps().is_none() {
        return;
    }
    let mut by_file: BTreeMap<&str, Vec<&Tx>> = BTreeMap::new();
    for t in SMTP_TXS {
        by_file.entry(t.file).or_default().push(t);
    }
    by_file.entry("smtp/zeek_smtp-starttls.pcap").or_default();
    by_file
        .entry("loopback/smtp_starttls_aiosmtpd.pcap")
        .or_default();
    let smtp_dir = shared_pcaps().unwrap().join("smtp");
    for f in std::fs::read_dir(&smtp_dir).unwrap() {
        let name = format!("smtp/{}", f.unwrap().file_name().to_string_lossy());
        assert!(
            by_file.contains_key(name.as_str()),
            "{name} has no expected values"
        );
    }
    let mut failures = Vec::new();
    for (file, txs) in &by_file {
        let recs = replay(&capture(file).unwrap());
        assert_app_proto(&recs);
        // Transaction events carry mail_from; session-only events do not.
        let ev: Vec<&Value> = of_type(&recs, "smtp")
            .into_iter()
            .filter(|e| e["smtp"].get("mail_from").is_some())
            .collect();
        if ev.len() != txs.len() {
            failures.push(format!(
                "{file}: {} transactions, expected {}",
                ev.len(),
                txs.len()
            ));
            continue;
        }
        for (e, want) in ev.iter().zip(txs) {
            let s = &e["smtp"];
            let rcpts: Vec<(String, u16)> = s["rcpts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["to"].as_str().unwrap_or("").to_string(),
                        r["code"].as_u64().unwrap_or(0) as u16,
                    )
                })
                .collect();
            let want_rcpts: Vec<(String, u16)> = want
                .rcpts
                .iter()
                .map(|(t, c)| (t.to_string(), *c))
                .collect();
            let atts: Vec<&str> = e["email"]["attachment"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let subject = e["email"]["subject"].as_str().unwrap_or("");
            let got = (
                e["src_port"].as_u64().unwrap_or(0) as u16,
                s["helo"].as_str().unwrap_or(""),
                s["mail_from"].as_str().unwrap_or(""),
                rcpts,
                atts,
                subject,
            );
            let exp = (
                want.client_port,
                want.helo,
                want.mail_from,
                want_rcpts,
                want.attachments.to_vec(),
                want.subject,
            );
            if got != exp {
                failures.push(format!("{file}: got {got:?}\n  want {exp:?}"));
            }
            // rcpt_to lists every RCPT TO sent (Suricata's field).
            assert_eq!(
                s["rcpt_to"].as_array().map(Vec::len),
                Some(want.rcpts.len()),
                "{file}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn smtp_reply_codes_auth_and_bcc_of_the_aiosmtpd_session() {
    let recs = replay(&capture("loopback/smtp_plain_aiosmtpd.pcap").unwrap());
    let ev = of_type(&recs, "smtp");
    assert_eq!(ev.len(), 3, "three transactions, no session-only event");
    let s = &ev[0]["smtp"];
    // tshark smtp.response.code in order: 334 334 535 (AUTH LOGIN, wrong
    // password), 235 (AUTH PLAIN), then MAIL 250, 23 x 250 and 2 x 550 for
    // RCPT, 354, 250.
    assert_eq!(
        s["auth"],
        serde_json::json!([
            {"mechanism": "LOGIN", "initial_response": false, "responses": 2, "code": 535, "outcome": "failure"},
            {"mechanism": "PLAIN", "initial_response": true, "responses": 0, "code": 235, "outcome": "success"}
        ])
    );
    assert_eq!(
        (&s["mail_reply"], &s["data_reply"], &s["final_reply"]),
        (&250.into(), &354.into(), &250.into())
    );
    assert_eq!(s["rcpt_accepted"], 23);
    assert_eq!(s["mail_params"], "size=3265");
    // audit01..08 were accepted but are in neither To (user01..10) nor Cc
    // (finance01..05).
    assert_eq!(s["undisclosed_recipients"], 8);
    let text = serde_json::to_string(&recs).unwrap();
    assert!(
        !text.contains("Spring2024") && !text.contains("c3ByaW5nMjAyNA=="),
        "no secrets"
    );
    let e = &ev[0]["email"];
    assert_eq!(e["status"], "PARSE_DONE");
    assert_eq!(e["from"], "\"J. Doe\" <j.doe@corp.example.test>");
    assert_eq!(
        e["reply_to"],
        "\"Accounts Payable\" <payments@s3cure0line.com>"
    );
    assert_eq!(
        e["message_id"],
        "<20240415093000.4711@ws042.corp.example.test>"
    );
    assert_eq!(e["x_mailer"], "Microsoft Outlook 16.0");
    assert_eq!(e["to"].as_array().unwrap().len(), 10);
    assert_eq!(e["cc"].as_array().unwrap().len(), 5);
    assert_eq!(
        e["url_domains"],
        serde_json::json!([
            "s3cure0line.com",
            "downloads.example.com",
            "secureonline.example.com"
        ])
    );
    let types: Vec<&str> = e["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "text/plain",
            "text/html",
            "application/pdf",
            "application/zip"
        ]
    );
    assert_eq!(e["body_bytes"], 3265, "the SIZE the client announced");
    // Transaction 2 ended by RSET before DATA; transaction 3 is "Re: lunch".
    assert_eq!(ev[1]["smtp"]["ended_by"], "rset");
    assert!(ev[1].get("email").is_none());
    assert_eq!(
        ev[2]["email"]["message_id"],
        "<20240415093100.4712@ws042.corp.example.test>"
    );
}

#[test]
fn smtp_bdat_chunks_and_one_sided_capture() {
    let Some(p) = capture("smtp/zeek_rfc3030-bdat-multipart-chunked.pcap") else {
        return;
    };
    let recs = replay(&p);
    let s = &of_type(&recs, "smtp")[0]["smtp"];
    // tshark: 26 x "BDAT 129" then "BDAT 106 LAST", each answered 250.
    assert_eq!(
        s["bdat"],
        serde_json::json!({"chunks": 27, "bytes": 26 * 129 + 106, "last": true})
    );
    assert_eq!(s["final_reply"], 250);
    // One-sided: the envelope, the message and its attachment, no replies.
    let recs = replay(&capture("smtp/zeek_smtp-attachment-msg.pcap").unwrap());
    let e = of_type(&recs, "smtp")[0];
    assert!(e["smtp"].get("mail_reply").is_none());
    assert_eq!(e["smtp"]["rcpt_accepted"], 1);
    assert_eq!(e["email"]["parts"][1]["content_type"], "message/rfc822");
}

#[test]
fn smtp_starttls_hands_the_connection_to_tls() {
    let Some(p) = capture("smtp/zeek_smtp-starttls.pcap") else {
        return;
    };
    let recs = replay(&p);
    // tshark: EHLO, STARTTLS, replies 220 250 220, then TLS: ClientHello JA3
    // 13020a4ccb11b2d3c9c0e6c285c3c415, ServerHello 0xc02f / JA3S
    // ccc514751b175866924439bdbb5bba34, certificate CN=mx.google.com.
    let tls = of_type(&recs, "tls");
    assert_eq!(tls.len(), 1);
    assert_eq!(
        tls[0]["tls"]["ja3"]["hash"],
        "13020a4ccb11b2d3c9c0e6c285c3c415"
    );
    assert_eq!(tls[0]["tls"]["server_handshake"]["cipher_hex"], "0xc02f");
    assert!(tls[0]["tls"]["subject"]
        .as_str()
        .unwrap()
        .ends_with("CN=mx.google.com"));
    let smtp = of_type(&recs, "smtp");
    assert_eq!(smtp.len(), 1);
    assert_eq!(smtp[0]["smtp"]["helo"], "openssl.client.net");
    assert_eq!(
        smtp[0]["smtp"]["starttls"],
        serde_json::json!({"code": 220, "accepted": true})
    );
    assert_eq!(of_type(&recs, "flow")[0]["app_proto"], "smtp");
    // aiosmtpd + smtplib: the TLS 1.3 ClientHello after STARTTLS (README:
    // SNI mail.example.test, JA3 93c7d42c0df602fb91589311534831f5).
    let recs = replay(&capture("loopback/smtp_starttls_aiosmtpd.pcap").unwrap());
    let tls = of_type(&recs, "tls");
    assert_eq!(
        (&tls[0]["tls"]["sni"], &tls[0]["tls"]["version"]),
        (&"mail.example.test".into(), &"TLS 1.3".into())
    );
}

// ---------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------

/// Every DNS message on UDP port 53 of the browsing capture, as
/// `id|type|rcode|qname|qtype|answers` with answers `TYPE:rdata:ttl`, from
/// `tshark -r F -Y 'dns && udp.port==53' -T json` (the Answers section
/// only: tshark's `dns.a` also lists additional records).
const DNS_BROWSING: &[&str] = &[
        "0x17c1|query||mamzon.ru|A|",
        "0x17c1|answer|NOERROR|mamzon.ru|A|A:138.201.208.22:3600",
        "0xc2c3|query||ctldl.windowsupdate.com|A|",
        "0xc2c3|answer|NOERROR|ctldl.windowsupdate.com|A|CNAME:wu-bg-shim.trafficmanager.net:3335,CNAME:wu.azureedge.net:35,CNAME:wu.ec.azureedge.net:1535,CNAME:bg.apr-52dd2-0503.edgecastdns.net:35,CNAME:hlb.apr-52dd2-0.edgecastdns.net:35,CNAME:cs11.wpc.v0cdn.net:35,A:93.184.221.240:3335",
        "0x74f2|query||api.bing.com|A|",
        "0x74f2|answer|NOERROR|api.bing.com|A|CNAME:api-bing-com.e-0001.e-msedge.net:3551,CNAME:e-0001.e-msedge.net:550,A:13.107.5.80:191",
        "0x14f7|query||www.bing.com|A|",
        "0x14f7|answer|NOERROR|www.bing.com|A|CNAME:a-0001.a-afdentry.net.trafficmanager.net:21570,CNAME:www-bing-com.dual-a-0001.a-msedge.net:30,CNAME:dual-a-0001.a-msedge.net:30,A:204.79.197.200:30,A:13.107.21.200:30",
        "0x70b0|query||www.bing.com|A|",
        "0x70b0|answer|NOERROR|www.bing.com|A|CNAME:a-0001.a-afdentry.net.trafficmanager.net:21570,CNAME:www-bing-com.dual-a-0001.a-msedge.net:30,CNAME:dual-a-0001.a-msedge.net:30,A:13.107.21.200:30,A:204.79.197.200:30",
        "0xbb60|query||ocsp.digicert.com|A|",
        "0xbb60|answer|NOERROR|ocsp.digicert.com|A|CNAME:cs9.wac.phicdn.net:10536,A:93.184.220.29:314",
        "0xc315|query||kaffetildig.dk|A|",
        "0x03ec|query||www.ereviews.dk|A|",
        "0x107d|query||www.havenyt.dk|A|",
        "0x415c|query||madmaskiner.dk|A|",
        "0xc315|answer|NOERROR|kaffetildig.dk|A|A:46.183.138.100:3600",
        "0x03ec|answer|NOERROR|www.ereviews.dk|A|A:46.30.213.0:3600",
        "0x107d|answer|NOERROR|www.havenyt.dk|A|CNAME:havenyt.dk:3600,A:91.223.235.50:3600",
        "0x415c|answer|NOERROR|madmaskiner.dk|A|A:93.191.156.41:3600",
        "0xa72f|query||bedreboligliv.dk|A|",
        "0x4586|query||www.befro.dk|A|",
        "0xad60|query||primabolig.dk|A|",
        "0x7f6a|query||media3.bsh-group.com|A|",
        "0x850d|query||api.tretti.com|A|",
        "0xbc7b|query||www.svane.com|A|",
        "0xfe8b|query||www.coffeecircle.com|A|",
        "0x49a0|query||pagead2.googlesyndication.com|A|",
        "0x7f6a|answer|NOERROR|media3.bsh-group.com|A|CNAME:d2p8nud2fm1xz.cloudfront.net:86125,A:143.204.98.9:60,A:143.204.98.116:60,A:143.204.98.15:60,A:143.204.98.58:60",
        "0xfe8b|answer|NOERROR|www.coffeecircle.com|A|A:34.107.162.137:157",
        "0x49a0|answer|NOERROR|pagead2.googlesyndication.com|A|A:142.250.185.162:225",
        "0xbc7b|answer|NOERROR|www.svane.com|A|A:81.95.247.153:3600",
        "0xad60|answer|NOERROR|primabolig.dk|A|A:94.231.103.159:3600",
        "0xa72f|answer|NOERROR|bedreboligliv.dk|A|A:94.231.103.165:3600",
        "0x4586|answer|NOERROR|www.befro.dk|A|A:185.221.38.92:60",
        "0x9f67|query||ocsp.pki.goog|A|",
        "0x9f67|answer|NOERROR|ocsp.pki.goog|A|CNAME:pki-goog.l.google.com:48,A:216.58.214.3:48",
        "0x850d|answer|NOERROR|api.tretti.com|A|A:212.237.249.17:3600",
        "0x6e48|query||x1.c.lencr.org|A|",
        "0x6e48|answer|NOERROR|x1.c.lencr.org|A|CNAME:crl.root-x1.letsencrypt.org.edgekey.net:88,CNAME:e8652.dscx.akamaiedge.net:21568,A:104.89.32.83:4",
        "0x2632|query||statusd.digitalcertvalidation.com|A|",
        "0x2632|answer|NOERROR|statusd.digitalcertvalidation.com|A|CNAME:ocsp.digicert.com:118,CNAME:cs9.wac.phicdn.net:21418,A:93.184.220.29:3418",
        "0x790a|query||r3.o.lencr.org|A|",
        "0x790a|answer|NOERROR|r3.o.lencr.org|A|CNAME:o.lencr.edgesuite.net:110,CNAME:a1887.dscq.akamai.net:21590,A:92.123.195.52:10,A:92.123.195.115:10",
        "0xd951|query||mc.yandex.ru|A|",
        "0xd951|answer|NOERROR|mc.yandex.ru|A|A:93.158.134.119:178,A:77.88.21.119:178,A:87.250.251.119:178,A:87.250.250.119:178",
        "0xf9be|query||googleads.g.doubleclick.net|A|",
        "0xf9be|answer|NOERROR|googleads.g.doubleclick.net|A|A:142.250.185.162:93",
        "0x799b|query||r20swj13mr.microsoft.com|A|",
        "0xaa37|query||iecvlist.microsoft.com|A|",
        "0x799b|answer|NOERROR|r20swj13mr.microsoft.com|A|CNAME:ie9comview.vo.msecnd.net:30,CNAME:cs9.wpc.v0cdn.net:2285,A:152.199.19.161:2285",
        "0xaa37|answer|NOERROR|iecvlist.microsoft.com|A|CNAME:ie9comview.vo.msecnd.net:2285,CNAME:cs9.wpc.v0cdn.net:2285,A:152.199.19.161:2285",
        "0x05e9|query||subca.ocsp-certum.com|A|",
        "0x05e9|answer|NOERROR|subca.ocsp-certum.com|A|CNAME:ocsp.akamai.certum.pl:789,CNAME:ocsp.certum.pl.edgekey.net:789,CNAME:e96763.dscb.akamaiedge.net:21489,A:95.100.153.66:2,A:95.100.153.123:2",
        "0xf877|query||yandex.ocsp-responder.com|A|",
        "0xf877|answer|NOERROR|yandex.ocsp-responder.com|A|CNAME:cdn.yandex.net:550,A:5.45.205.243:150,A:5.45.205.241:150,A:5.45.205.245:150,A:5.45.205.242:150,A:5.45.205.244:150",
        "0xfa92|query||partner.googleadservices.com|A|",
        "0xfa92|answer|NOERROR|partner.googleadservices.com|A|CNAME:partnerad.l.doubleclick.net:66,A:216.58.212.130:66",
        "0x3d32|query||adservice.google.fr|A|",
        "0x6ec8|query||adservice.google.com|A|",
        "0x3d32|answer|NOERROR|adservice.google.fr|A|CNAME:pagead46.l.doubleclick.net:152,A:142.250.185.194:152",
        "0x6ec8|answer|NOERROR|adservice.google.com|A|A:172.217.16.130:50",
        "0xe989|query||tpc.googlesyndication.com|A|",
        "0xe989|answer|NOERROR|tpc.googlesyndication.com|A|A:216.58.212.161:258",
        "0xd817|query||www.google.com|A|",
        "0xd817|answer|NOERROR|www.google.com|A|A:142.250.185.164:14",
        "0x1cf7|query||ieonline.microsoft.com|A|",
        "0x1cf7|answer|NOERROR|ieonline.microsoft.com|A|CNAME:any.edge.bing.com:378,A:204.79.197.200:1881",
        "0x13d2|query||go.microsoft.com|A|",
        "0x13d2|answer|NOERROR|go.microsoft.com|A|CNAME:go.microsoft.com.edgekey.net:3594,CNAME:e11290.dspg.akamaiedge.net:594,A:104.89.38.104:14",
        "0x4d9c|query||www.msn.com|A|",
        "0x4d9c|answer|NOERROR|www.msn.com|A|CNAME:www-msn-com.a-0003.a-msedge.net:21410,CNAME:icePrime.a-0003.dc-msedge.net:50,CNAME:a-0003.dc-msedge.net:50,A:131.253.33.203:50",
        "0x0bc0|query||query.prod.cms.msn.com|A|",
        "0x0bc0|answer|NOERROR|query.prod.cms.msn.com|A|CNAME:query.prod.cms.msn.com.akadns.net:20617,CNAME:query-amp-data-eastus.cms.microsoft.com:241,CNAME:cms-eastus-data-query-amp.cloudapp.net:3541,A:13.92.246.37:60",
];

fn dns_line(e: &Value) -> String {
    let d = &e["dns"];
    let answers: Vec<String> = d["answers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{}:{}:{}",
                a["rrtype"].as_str().unwrap_or(""),
                a["rdata"].as_str().unwrap_or(""),
                a["ttl"]
            )
        })
        .collect();
    format!(
        "{:#06x}|{}|{}|{}|{}|{}",
        d["id"].as_u64().unwrap_or(0),
        d["type"].as_str().unwrap_or(""),
        d["rcode"].as_str().unwrap_or(""),
        d["rrname"].as_str().unwrap_or(""),
        d["rrtype"].as_str().unwrap_or(""),
        answers.join(",")
    )
}

#[test]
fn dns_queries_and_answers_match_tshark() {
    let Some(p) = capture("tls/suricata-verify_tls-subjectaltname.pcap") else {
        return;
    };
    let recs = replay(&p);
    assert_app_proto(&recs);
    let mut got: Vec<String> = of_type(&recs, "dns")
        .into_iter()
        .filter(|e| e["dest_port"] == 53)
        .map(dns_line)
        .collect();
    let mut want: Vec<String> = DNS_BROWSING.iter().map(|s| s.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // NetBIOS name service (UDP 137) has the DNS layout; it is marked.
    let nbns = of_type(&recs, "dns")
        .into_iter()
        .filter(|e| e["dest_port"] == 137)
        .collect::<Vec<_>>();
    assert!(!nbns.is_empty() && nbns.iter().all(|e| e["dns"]["netbios"] == true));
}

// ---------------------------------------------------------------------------
// Hand-built captures: what the public ones do not have
// ---------------------------------------------------------------------------

/// A TCP conversation written as an Ethernet/IPv4 pcap.
struct Conv {
    frames: Vec<Vec<u8>>,
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    cseq: u32,
    sseq: u32,
}

impl Conv {
    fn new(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Conv {
        let mut c = Conv {
            frames: Vec::new(),
            client,
            server,
            cseq: 1000,
            sseq: 5000,
        };
        c.seg(true, 0x02, b"");
        c.cseq += 1;
        c.seg(false, 0x12, b"");
        c.sseq += 1;
        c.seg(true, 0x10, b"");
        c
    }

    fn seg(&mut self, from_client: bool, flags: u8, payload: &[u8]) {
        let ((src, sp), (dst, dp)) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let (seq, ack) = if from_client {
            (self.cseq, self.sseq)
        } else {
            (self.sseq, self.cseq)
        };
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
        let total = 40 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        let flags = if flags & 0x02 != 0 && flags & 0x10 == 0 {
            flags
        } else {
            flags | 0x10
        };
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        self.frames.push(f);
    }

    /// Client data, `mss` bytes per segment.
    fn client(&mut self, data: &[u8], mss: usize) {
        for c in data.chunks(mss) {
            self.seg(true, 0x18, c);
            self.cseq = self.cseq.wrapping_add(c.len() as u32);
        }
    }

    fn server(&mut self, data: &[u8]) {
        self.seg(false, 0x18, data);
        self.sseq = self.sseq.wrapping_add(data.len() as u32);
    }

    /// `n` client bytes that never reach the capture.
    fn client_lost(&mut self, n: u32) {
        self.cseq = self.cseq.wrapping_add(n);
    }

    fn close(&mut self) {
        self.seg(true, 0x11, b"");
        self.cseq += 1;
        self.seg(false, 0x11, b"");
        self.sseq += 1;
        self.seg(true, 0x10, b"");
    }

    fn write(&self, path: &Path) {
        let mut out = Vec::new();
        for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (i, f) in self.frames.iter().enumerate() {
            out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
            out.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        std::fs::write(path, out).unwrap();
    }
}

const CLIENT: ([u8; 4], u16) = ([10, 1, 0, 5], 50123);

#[test]
fn smtp_pipelined_data_refused_then_rset_follows_the_rfc() {
    // RFC 2920 §3.1: a client whose pipelined DATA is refused must not send
    // the body; what follows is commands. tshark 4.0.17 switches to body mode
    // on the DATA command itself: on this capture it shows the client's
    // `RSET`, `MAIL`, `RCPT`, `DATA` segment (frame 9) as "DATA fragment", no
    // second MAIL/RCPT command and no second message (no imf.subject). The
    // expected values follow the RFC.
    let d = tmpdir("pipelined");
    let mut c = Conv::new(CLIENT, ([10, 1, 0, 25], 2525));
    c.server(b"220 mx.example.test ESMTP\r\n");
    c.client(b"EHLO ws.example.test\r\n", 1460);
    c.server(b"250-mx.example.test\r\n250 PIPELINING\r\n");
    c.client(
        b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
        1460,
    );
    c.server(b"250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n");
    c.client(
        b"RSET\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
        1460,
    );
    c.server(b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    c.client(b"Subject: second\r\n\r\nhello\r\n.\r\nQUIT\r\n", 1460);
    c.server(b"250 queued\r\n221 bye\r\n");
    c.close();
    let f = d.join("pipelined.pcap");
    c.write(&f);
    let recs = replay(&f);
    let ev = of_type(&recs, "smtp");
    assert_eq!(ev.len(), 2);
    let (a, b) = (&ev[0]["smtp"], &ev[1]["smtp"]);
    assert_eq!(
        (&a["rcpt_accepted"], &a["data_reply"], &a["ended_by"]),
        (&0.into(), &554.into(), &"rset".into())
    );
    assert_eq!(a["pipelined"], true);
    assert!(ev[0].get("email").is_none());
    assert_eq!(b["rcpt_to"], serde_json::json!(["c@example.net"]));
    assert_eq!(
        (&b["data_reply"], &b["final_reply"]),
        (&354.into(), &250.into())
    );
    assert_eq!(ev[1]["email"]["subject"], "second");
}

/// A TLS 1.2 ClientHello of about 12 KB (padding extension), SNI `big.example.test`.
fn big_client_hello() -> Vec<u8> {
    let name = b"big.example.test";
    let mut exts = Vec::new();
    exts.extend_from_slice(&[0, 0]);
    exts.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    exts.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    exts.push(0);
    exts.extend_from_slice(&(name.len() as u16).to_be_bytes());
    exts.extend_from_slice(name);
    exts.extend_from_slice(&[0, 21]);
    exts.extend_from_slice(&12_000u16.to_be_bytes());
    exts.extend_from_slice(&[0u8; 12_000]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&[0, 0, 4, 0xc0, 0x2f, 0x00, 0x2f, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    // Two records: 16 000 bytes, then the rest.
    let mut wire = Vec::new();
    for part in hs.chunks(16_000) {
        wire.extend_from_slice(&[22, 3, 1]);
        wire.extend_from_slice(&(part.len() as u16).to_be_bytes());
        wire.extend_from_slice(part);
    }
    wire
}

#[test]
fn tls_12_kb_client_hello_over_two_records_and_nine_segments() {
    let d = tmpdir("bighello");
    let mut c = Conv::new(CLIENT, ([10, 1, 0, 7], 443));
    c.client(&big_client_hello(), 1400);
    c.close();
    let f = d.join("big.pcap");
    c.write(&f);
    let recs = replay(&f);
    let tls = of_type(&recs, "tls");
    assert_eq!(tls.len(), 1);
    let t = &tls[0]["tls"];
    assert_eq!(t["sni"], "big.example.test");
    assert_eq!(t["ja3"]["string"], "771,49199-47,0-21,,");
    assert!(t.get("anomalies").is_none(), "{t}");
}

#[test]
fn tls_hello_with_a_lost_segment_is_flagged_and_the_flow_goes_on() {
    let d = tmpdir("gaphello");
    let mut c = Conv::new(CLIENT, ([10, 1, 0, 7], 443));
    let hello = big_client_hello();
    c.client(&hello[..2800], 1400);
    c.client_lost(1400);
    c.client(&hello[4200..], 1400);
    c.close();
    let f = d.join("gap.pcap");
    c.write(&f);
    let recs = replay(&f);
    let flows = of_type(&recs, "flow");
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["app_proto"], "tls");
    // No hello could be read: the handshake is reported as an anomaly
    // record, not as a half-parsed event.
    assert!(of_type(&recs, "tls").is_empty());
    let an = of_type(&recs, "anomaly");
    assert_eq!(an.len(), 1);
    assert_eq!(an[0]["anomaly"]["event"], "tls_no_handshake");
    assert_eq!(an[0]["anomaly"]["anomalies"], serde_json::json!(["gap"]));
    let stats = of_type(&recs, "stats");
    assert!(stats[0]["stats"]["app_layer"]["gaps"].as_u64().unwrap() >= 1);
}

#[test]
fn dns_over_tcp_query_and_answer() {
    let d = tmpdir("dnstcp");
    let query: &[u8] = &[
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'm', b'a', b'i', b'l', 7, b'e', b'x',
        b'a', b'm', b'p', b'l', b'e', 4, b't', b'e', b's', b't', 0, 0, 15, 0, 1,
    ];
    let mut answer = query.to_vec();
    answer[2] = 0x81;
    answer[3] = 0x80;
    answer[7] = 1;
    // MX 10 mx1.example.test (pointer to "example.test" at offset 17), TTL 3600.
    answer.extend_from_slice(&[0xc0, 12, 0, 15, 0, 1, 0, 0, 0x0e, 0x10, 0, 8, 0, 10]);
    answer.extend_from_slice(&[3, b'm', b'x', b'1', 0xc0, 17]);
    let framed = |m: &[u8]| {
        let mut v = (m.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(m);
        v
    };
    let mut c = Conv::new(CLIENT, ([10, 1, 0, 53], 53));
    c.client(&framed(query), 10);
    c.server(&framed(&answer));
    c.close();
    let f = d.join("dnstcp.pcap");
    c.write(&f);
    let recs = replay(&f);
    let ev = of_type(&recs, "dns");
    assert_eq!(ev.len(), 2);
    assert_eq!(dns_line(ev[0]), "0xabcd|query||mail.example.test|MX|");
    assert_eq!(
        dns_line(ev[1]),
        "0xabcd|answer|NOERROR|mail.example.test|MX|MX:mx1.example.test:3600"
    );
    assert_eq!(ev[1]["dns"]["answers"][0]["preference"], 10);
    assert_eq!(ev[1]["dns"]["tcp"], true);
}
