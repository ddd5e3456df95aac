//! Decode counters, by layer and reason.
//!
//! Every counter is declared once, in the list below, so that the struct,
//! [`DecodeStats::for_each`] and [`DecodeStats::merge`] cannot drift apart.
//! The names are the EVE `stats.decoder.*` keys.

macro_rules! decode_stats {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// Decode counters, by layer and reason (EVE `stats.decoder.*`).
        ///
        /// Layer counters (`ipv4`, `tcp`, `gre`, ...) count headers decoded at
        /// any depth, so a TCP segment inside GRE inside IPv4 adds 2 to
        /// `ipv4`, 1 to `gre` and 1 to `tcp`. Reason counters
        /// (`<layer>_<reason>`) count the frame at the layer where decoding
        /// stopped or noticed the problem.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct DecodeStats {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl DecodeStats {
            /// Visits every counter with its EVE stats name.
            pub fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
                $( f(stringify!($name), self.$name); )*
            }

            /// Adds another worker's counters into this one.
            pub fn merge(&mut self, o: &DecodeStats) {
                $( self.$name = self.$name.saturating_add(o.$name); )*
            }
        }
    };
}

decode_stats! {
    // --- totals
    /// Frames given to the decoder.
    frames,
    /// Wire bytes of the frames given to the decoder.
    bytes,
    /// Frames that produced a packet for flow tracking.
    packets,
    /// Frames that were valid but carry nothing flow tracking uses (ARP, LLDP, ...).
    not_ip,
    /// Frames rejected as malformed or truncated (the reason is counted too).
    invalid,
    /// Packets that came out of at least one tunnel.
    tunnelled,

    // --- link layers
    /// Link type the decoder does not know.
    unsupported_linktype,
    /// Ethernet header shorter than 14 bytes.
    eth_truncated,
    /// 802.3 frames with an LLC header that is not SNAP-encapsulated IP.
    eth_llc,
    /// Linux cooked v1 header shorter than 16 bytes.
    sll_truncated,
    /// Linux cooked v2 header shorter than 20 bytes.
    sll2_truncated,
    /// BSD loopback header shorter than 4 bytes.
    null_truncated,
    /// BSD loopback address family that is not IPv4 or IPv6.
    null_unknown_family,
    /// PPP header cut short.
    ppp_truncated,
    /// Cisco HDLC header cut short.
    chdlc_truncated,
    /// Raw IP frame that is empty or has a version other than 4 or 6.
    raw_bad_version,
    /// Frames with at least one 802.1Q/802.1ad tag.
    vlan,
    /// Frames with two or more VLAN tags.
    vlan_qinq,
    /// VLAN tag cut short.
    vlan_truncated,
    /// More VLAN tags than `MAX_VLAN_DEPTH`.
    vlan_too_deep,
    /// Frames with an MPLS label stack.
    mpls,
    /// MPLS label stack or pseudowire control word cut short.
    mpls_truncated,
    /// More MPLS labels than `MAX_MPLS_LABELS`, or pseudowires nested deeper than `MAX_PW_DEPTH`.
    mpls_too_deep,
    /// MPLS payload that is neither IPv4, IPv6 nor a control-word Ethernet pseudowire.
    mpls_unknown_payload,
    /// PPPoE session frames.
    pppoe,
    /// PPPoE session header cut short.
    pppoe_truncated,

    // --- IPv4
    /// IPv4 headers decoded (any depth).
    ipv4,
    /// IPv4 headers rejected, any reason below.
    ipv4_invalid,
    /// Fewer than 20 bytes, or fewer than the header length.
    ipv4_truncated,
    /// Version field is not 4.
    ipv4_bad_version,
    /// Header length below 20 bytes.
    ipv4_bad_ihl,
    /// Total length smaller than the header length.
    ipv4_bad_total_len,
    /// Total length larger than the captured bytes (decoded with what is there).
    ipv4_total_len_beyond_capture,
    /// Total length 0, as written by TCP segmentation offload (decoded with the captured length).
    ipv4_zero_total_len,
    /// Non-final fragment whose payload is not a multiple of 8 bytes.
    ipv4_frag_bad_len,

    // --- IPv6
    /// IPv6 headers decoded (any depth).
    ipv6,
    /// IPv6 headers rejected, any reason below.
    ipv6_invalid,
    /// Fewer than 40 bytes.
    ipv6_truncated,
    /// Version field is not 6.
    ipv6_bad_version,
    /// Payload length larger than the captured bytes (decoded with what is there).
    ipv6_payload_len_beyond_capture,
    /// Payload length 0 before a hop-by-hop header (jumbogram or offload; decoded with the captured length).
    ipv6_zero_payload_len,
    /// Extension header cut short.
    ipv6_ext_truncated,
    /// More extension headers than `MAX_IPV6_EXT_HEADERS`.
    ipv6_ext_chain_too_long,
    /// Hop-by-hop options header not directly after the IPv6 header (counted, decoding goes on).
    ipv6_hbh_not_first,
    /// Fragment header with offset 0 and no more fragments (RFC 6946), decoded as a whole packet.
    ipv6_atomic_fragment,
    /// Non-final fragment whose payload is not a multiple of 8 bytes.
    ipv6_frag_bad_len,

    // --- transport
    /// TCP headers decoded.
    tcp,
    /// TCP segment shorter than 20 bytes, or than its data offset.
    tcp_truncated,
    /// TCP data offset below 5 words.
    tcp_bad_offset,
    /// UDP headers decoded.
    udp,
    /// UDP datagram shorter than its 8-byte header.
    udp_truncated,
    /// UDP length field below 8.
    udp_bad_len,
    /// UDP length field larger than the bytes present (decoded with what is there).
    udp_len_beyond_capture,
    /// ICMP messages decoded.
    icmpv4,
    /// ICMP message shorter than 4 bytes.
    icmpv4_truncated,
    /// ICMPv6 messages decoded.
    icmpv6,
    /// ICMPv6 message shorter than 4 bytes.
    icmpv6_truncated,
    /// Packets of another IP protocol (ESP, SCTP, ...), passed on without ports.
    other_proto,

    // --- tunnels
    /// GRE headers decoded.
    gre,
    /// GRE header cut short (the outer packet is passed on).
    gre_truncated,
    /// GRE version other than 0 or 1, or a malformed version-1 (PPTP) header.
    gre_bad_version,
    /// GRE with source routing, or carrying a protocol the decoder does not open.
    gre_unsupported,
    /// ERSPAN headers decoded (type I, II or III).
    erspan,
    /// ERSPAN header cut short.
    erspan_truncated,
    /// ERSPAN version field not matching its GRE protocol type.
    erspan_bad_version,
    /// ERSPAN III frame type other than Ethernet or IP.
    erspan_unsupported,
    /// VXLAN headers decoded.
    vxlan,
    /// VXLAN header cut short.
    vxlan_truncated,
    /// VXLAN header without the I (valid VNI) flag.
    vxlan_bad_flags,
    /// Geneve headers decoded.
    geneve,
    /// Geneve header or options cut short.
    geneve_truncated,
    /// Geneve version other than 0.
    geneve_bad_version,
    /// Geneve protocol type the decoder does not open.
    geneve_unsupported,
    /// IPv4 or IPv6 packets inside IPv4/IPv6 (protocol 4, or 41 inside IPv6).
    ipip,
    /// IPv6 packets inside IPv4 (protocol 41).
    ip6in4,
    /// IP-in-IP payload whose version is not the announced one (the outer packet is passed on).
    ipip_bad_version,
    /// Teredo (udp/3544) packets opened.
    teredo,
    /// AYIYA (udp/5072) packets opened.
    ayiya,
    /// GTP-U (udp/2152) T-PDUs opened.
    gtpu,
    /// GTP-U header or extension headers cut short.
    gtpu_truncated,
    /// GTP-U T-PDU whose payload is not IPv4 or IPv6.
    gtpu_unsupported,
    /// PPP frames opened (link type or inside GRE).
    ppp,
    /// Tunnels nested deeper than `MAX_ENCAP_DEPTH` (the packet at the limit is passed on).
    encap_too_deep,

    // --- IP fragment reassembly
    /// IPv4 fragments seen.
    frag_ipv4,
    /// IPv6 fragments seen.
    frag_ipv6,
    /// Datagrams rebuilt from fragments.
    frag_reassembled,
    /// Incomplete datagrams dropped after the fragment timeout.
    frag_timeout,
    /// Fragments dropped because every tracker was in use.
    frag_table_full,
    /// Fragments dropped because the reassembly buffers reached their byte budget.
    frag_memory_full,
    /// Fragments overlapping data already held (the first data is kept).
    frag_overlap,
    /// Datagrams dropped for reaching past 65535 bytes.
    frag_too_large,
    /// Datagrams dropped for having more than `MAX_FRAGMENTS_PER_DATAGRAM` fragments.
    frag_too_many,
    /// Datagrams dropped because fragments disagree on where the datagram ends.
    frag_inconsistent,
    /// Fragments with fewer captured bytes than their header announces.
    frag_snapped,
    /// Fragments found inside an already-reassembled packet (not reassembled again).
    frag_nested,
}
