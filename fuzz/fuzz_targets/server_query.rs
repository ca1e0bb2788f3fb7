//! The reference server's query strings: every handler's query DTO decoded from the raw query
//! (`serde_urlencoded` through `ApiQuery`'s `decode_query`), its numbers bounded, its enums
//! converted and its time window validated; each rejection is rendered as the 422 response.
#![no_main]

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use vehicleops_server::api::handlers::fuzzing;

fuzz_target!(|data: &[u8]| {
    // The URI's query is `&str`; a non-UTF-8 one never reaches the extractor.
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    for result in fuzzing::query(query) {
        if let Err(e) = result {
            assert!(e.status.is_client_error(), "{e:?}");
            let _ = e.into_response();
        }
    }
});
