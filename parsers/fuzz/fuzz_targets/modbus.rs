#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spanwatch_parsers::modbus::fuzz(data);
});
