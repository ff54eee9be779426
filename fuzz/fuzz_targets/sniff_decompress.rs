#![no_main]
// Sniffing and gzip/zstd detection decide the reader, as for a file given on the command line.
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventlens_fuzz::run(data, None));
