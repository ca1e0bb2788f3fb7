//! `uniffi-bindgen`: generates the Kotlin and Swift sources of `vehicleops-uniffi`, e.g.
//! `cargo run -p uniffi-bindgen -- generate --library <libvehicleops_uniffi.so> --language kotlin --out-dir out`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
