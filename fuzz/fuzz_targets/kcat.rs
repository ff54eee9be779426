#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventlens_fuzz::run(
    data,
    eventlens_fuzz::reader("kcat")
));
