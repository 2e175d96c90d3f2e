//! Tessera native module: pixel conversion and tile encoders for Node, and the
//! few GDAL calls gdal-async does not bind (gdal_vsi.rs).
//! Loaded as `native/tessera.node`; the typed API is src/pixels/native.ts.
//!
//! Node-API is bound by hand (see napi.rs) because crates.io is unreachable
//! in the build environment; the build uses no crates at all.

// napi_env / napi_value are opaque handles that Node guarantees valid for the
// duration of a callback; helpers taking them stay safe fns by design.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod napi;

mod convert;
mod deflate;
mod gdal_vsi;
mod j2k;
mod jpeg;
mod png;

use napi::{napi_env, napi_value};

/// Bumped whenever the JS-visible contract changes, so the TS loader can
/// refuse a stale build with a clear message instead of misbehaving.
const ABI_VERSION: u32 = 3;

napi_export!(cb_convert, "convert", convert::js_convert);
napi_export!(cb_encode_jpeg, "encodeJpeg", jpeg::js_encode_jpeg);
napi_export!(cb_encode_png, "encodePng", png::js_encode_png);
napi_export!(cb_encode_j2k, "encodeJ2k", j2k::js_encode_j2k);
napi_export!(cb_deflate_zlib, "deflateZlib", deflate::js_deflate_zlib);
napi_export!(cb_gdal_bind, "gdalBind", gdal_vsi::js_gdal_bind);
napi_export!(cb_gdal_set_path_option, "gdalSetPathOption", gdal_vsi::js_gdal_set_path_option);
napi_export!(cb_gdal_clear_path_options, "gdalClearPathOptions", gdal_vsi::js_gdal_clear_path_options);
napi_export!(cb_gdal_clear_curl_cache, "gdalClearCurlCache", gdal_vsi::js_gdal_clear_curl_cache);
napi_export!(cb_gdal_set_config_option, "gdalSetConfigOption", gdal_vsi::js_gdal_set_config_option);

fn register(env: napi_env, exports: napi_value) -> napi::Result<()> {
    unsafe {
        napi::set_function(env, exports, c"convert", cb_convert)?;
        napi::set_function(env, exports, c"encodeJpeg", cb_encode_jpeg)?;
        napi::set_function(env, exports, c"encodePng", cb_encode_png)?;
        napi::set_function(env, exports, c"encodeJ2k", cb_encode_j2k)?;
        napi::set_function(env, exports, c"deflateZlib", cb_deflate_zlib)?;
        napi::set_function(env, exports, c"gdalBind", cb_gdal_bind)?;
        napi::set_function(env, exports, c"gdalSetPathOption", cb_gdal_set_path_option)?;
        napi::set_function(env, exports, c"gdalClearPathOptions", cb_gdal_clear_path_options)?;
        napi::set_function(env, exports, c"gdalClearCurlCache", cb_gdal_clear_curl_cache)?;
        napi::set_function(env, exports, c"gdalSetConfigOption", cb_gdal_set_config_option)?;
        napi::set_value(env, exports, c"abiVersion", napi::uint32(env, ABI_VERSION)?)?;
        napi::set_value(env, exports, c"pngDefaults", napi::string(env, &format!("level={} filter={:?}", png::DEFAULT_LEVEL, png::DEFAULT_FILTER))?)?;
    }
    Ok(())
}

/// Entry point Node looks up after dlopen (context-aware: called once per
/// environment, i.e. per worker thread).
///
/// # Safety
/// Called by Node with a valid env and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let outcome = std::panic::catch_unwind(|| register(env, exports));
    match outcome {
        Ok(Ok(())) => exports,
        // Returning NULL makes Node throw "Module did not self-register"-style
        // errors; the pending exception (if any) carries the detail.
        _ => std::ptr::null_mut(),
    }
}
