#![no_main]
// A Zipkin v2 span array as a document, or span arrays one per line (the first byte chooses).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let name = if which % 2 == 0 {
        "zipkin"
    } else {
        "zipkin_lines"
    };
    eventlens_fuzz::run(rest, eventlens_fuzz::reader(name));
});
