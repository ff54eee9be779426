#![no_main]
// A single CloudEvent or a batch (the first byte chooses).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let name = if which % 2 == 0 {
        "cloudevents_document"
    } else {
        "cloudevents_batch"
    };
    eventlens_fuzz::run(rest, eventlens_fuzz::reader(name));
});
