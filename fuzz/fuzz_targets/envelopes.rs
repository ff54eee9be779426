#![no_main]
// Event Grid, EventBridge and CDEvents documents (the first byte chooses).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let name = ["eventgrid", "eventbridge", "cdevents"][usize::from(*which) % 3];
    eventlens_fuzz::run(rest, eventlens_fuzz::reader(name));
});
