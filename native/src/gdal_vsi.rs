//! GDAL's path-specific options (VSISetPathSpecificOption, GDAL >= 3.6),
//! which gdal-async does not bind: Tessera sets S3 credentials for one
//! /vsis3/ object while GDAL opens it (src/raster/s3-read-credentials.ts).
//!
//! The functions are looked up in the libgdal that gdal-async already loaded
//! (dlopen with RTLD_NOLOAD on the path the caller found in /proc/self/maps),
//! never linked: the options must reach the very GDAL instance that opens the
//! images, and this module must keep loading where GDAL is absent (workers
//! only convert and encode pixels).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use crate::napi::{self, napi_callback_info, napi_env, napi_value, Error, Result};

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

const RTLD_NOW: c_int = 0x2;
const RTLD_NOLOAD: c_int = 0x4;

const MAX_PATH: usize = 4096;
const MAX_KEY: usize = 256;
/// STS session tokens run to a few kilobytes.
const MAX_VALUE: usize = 16384;

type SetOption = unsafe extern "C" fn(*const c_char, *const c_char, *const c_char);
type ClearPrefix = unsafe extern "C" fn(*const c_char);
type SetConfig = unsafe extern "C" fn(*const c_char, *const c_char);

struct Gdal {
    library: String,
    set_path_option: SetOption,
    clear_path_options: ClearPrefix,
    clear_curl_cache: ClearPrefix,
    set_config_option: SetConfig,
}

static GDAL: OnceLock<Gdal> = OnceLock::new();

fn last_dl_error() -> String {
    let e = unsafe { dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

unsafe fn symbol(handle: *mut c_void, name: &CStr, library: &str) -> Result<*mut c_void> {
    let f = dlsym(handle, name.as_ptr());
    if f.is_null() {
        return Err(Error::Internal(format!("{library} has no {} (GDAL >= 3.6 is needed): {}", name.to_string_lossy(), last_dl_error())));
    }
    Ok(f)
}

fn bind(library: &str) -> Result<&'static Gdal> {
    if let Some(g) = GDAL.get() {
        if g.library != library {
            return Err(Error::Value(format!("already bound to {}, not rebinding to {library}", g.library)));
        }
        return Ok(g);
    }
    let path = CString::new(library).map_err(|_| Error::Value("library path must not contain a NUL character".into()))?;
    // RTLD_NOLOAD: only a library already in the process (the one gdal-async uses), never a second copy.
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_NOLOAD) };
    if handle.is_null() {
        return Err(Error::Internal(format!("{library} is not loaded in this process: {}", last_dl_error())));
    }
    // The handle is never closed: the library stays loaded for the process's life anyway (gdal-async holds it).
    let g = unsafe {
        Gdal {
            library: library.to_string(),
            set_path_option: std::mem::transmute::<*mut c_void, SetOption>(symbol(handle, c"VSISetPathSpecificOption", library)?),
            clear_path_options: std::mem::transmute::<*mut c_void, ClearPrefix>(symbol(handle, c"VSIClearPathSpecificOptions", library)?),
            clear_curl_cache: std::mem::transmute::<*mut c_void, ClearPrefix>(symbol(handle, c"VSICurlPartialClearCache", library)?),
            set_config_option: std::mem::transmute::<*mut c_void, SetConfig>(symbol(handle, c"CPLSetConfigOption", library)?),
        }
    };
    Ok(GDAL.get_or_init(|| g))
}

fn bound() -> Result<&'static Gdal> {
    GDAL.get().ok_or_else(|| Error::Internal("GDAL is not bound yet: call gdalBind(libraryPath) first".into()))
}

fn optional_value(env: napi_env, v: napi_value, what: &str) -> Result<Option<CString>> {
    if napi::is_nullish(env, v)? {
        Ok(None)
    } else {
        Ok(Some(napi::c_string(env, v, what, MAX_VALUE)?))
    }
}

/// `gdalBind(libraryPath)`: finds the GDAL functions in that already-loaded library.
pub fn js_gdal_bind(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [path] = napi::args::<1>(env, info)?;
    let library = napi::c_string(env, path, "libraryPath", MAX_PATH)?;
    bind(&library.to_string_lossy())?;
    napi::undefined(env)
}

/// `gdalSetPathOption(prefix, key, value | null)`: VSISetPathSpecificOption (null removes the key).
pub fn js_gdal_set_path_option(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [prefix, key, value] = napi::args::<3>(env, info)?;
    let prefix = napi::c_string(env, prefix, "prefix", MAX_PATH)?;
    let key = napi::c_string(env, key, "key", MAX_KEY)?;
    let value = optional_value(env, value, "value")?;
    let g = bound()?;
    unsafe { (g.set_path_option)(prefix.as_ptr(), key.as_ptr(), value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())) };
    napi::undefined(env)
}

/// `gdalClearPathOptions(prefix)`: VSIClearPathSpecificOptions for exactly that prefix.
pub fn js_gdal_clear_path_options(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [prefix] = napi::args::<1>(env, info)?;
    let prefix = napi::c_string(env, prefix, "prefix", MAX_PATH)?;
    if prefix.as_bytes().is_empty() {
        // GDAL reads an empty prefix as "every prefix": never clear other paths' options by accident.
        return Err(Error::Value("prefix must not be empty".into()));
    }
    let g = bound()?;
    unsafe { (g.clear_path_options)(prefix.as_ptr()) };
    napi::undefined(env)
}

/// `gdalClearCurlCache(prefix)`: VSICurlPartialClearCache (cached sizes and blocks of those paths).
pub fn js_gdal_clear_curl_cache(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [prefix] = napi::args::<1>(env, info)?;
    let prefix = napi::c_string(env, prefix, "prefix", MAX_PATH)?;
    let g = bound()?;
    unsafe { (g.clear_curl_cache)(prefix.as_ptr()) };
    napi::undefined(env)
}

/// `gdalSetConfigOption(key, value | null)`: CPLSetConfigOption in the bound library (used to check that it is
/// the same GDAL instance gdal-async uses: gdal.config.get must then see the value).
pub fn js_gdal_set_config_option(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [key, value] = napi::args::<2>(env, info)?;
    let key = napi::c_string(env, key, "key", MAX_KEY)?;
    let value = optional_value(env, value, "value")?;
    let g = bound()?;
    unsafe { (g.set_config_option)(key.as_ptr(), value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())) };
    napi::undefined(env)
}
