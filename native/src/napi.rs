//! Hand-written Node-API FFI (crates.io is unreachable, so no napi-rs) plus
//! small safe helpers that extract arguments and report precise errors.
//!
//! Every `napi_*` symbol is resolved at load time from the `node` binary.
//! Only functions from Node-API version <= 8 are used, so any Node >= 12.22
//! can load the module.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

#[repr(C)]
pub struct napi_env__ {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct napi_value__ {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct napi_callback_info__ {
    _opaque: [u8; 0],
}

pub type napi_env = *mut napi_env__;
pub type napi_value = *mut napi_value__;
pub type napi_callback_info = *mut napi_callback_info__;
// Enums are kept as plain ints: newer Node versions add values, and an
// unknown discriminant in a Rust enum would be undefined behaviour.
pub type napi_status = c_int;
pub type napi_callback = Option<unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value>;

#[repr(C)]
pub struct napi_extended_error_info {
    pub error_message: *const c_char,
    pub engine_reserved: *mut c_void,
    pub engine_error_code: u32,
    pub error_code: napi_status,
}

const NAPI_OK: napi_status = 0;

// napi_valuetype
const T_UNDEFINED: c_int = 0;
const T_NULL: c_int = 1;
const T_BOOLEAN: c_int = 2;
const T_NUMBER: c_int = 3;
const T_STRING: c_int = 4;
const T_SYMBOL: c_int = 5;
const T_OBJECT: c_int = 6;
const T_FUNCTION: c_int = 7;
const T_EXTERNAL: c_int = 8;
const T_BIGINT: c_int = 9;

extern "C" {
    fn napi_create_function(
        env: napi_env,
        utf8name: *const c_char,
        length: usize,
        cb: napi_callback,
        data: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_set_named_property(env: napi_env, object: napi_value, utf8name: *const c_char, value: napi_value) -> napi_status;
    fn napi_get_named_property(env: napi_env, object: napi_value, utf8name: *const c_char, result: *mut napi_value) -> napi_status;
    fn napi_get_cb_info(
        env: napi_env,
        cbinfo: napi_callback_info,
        argc: *mut usize,
        argv: *mut napi_value,
        this_arg: *mut napi_value,
        data: *mut *mut c_void,
    ) -> napi_status;
    fn napi_typeof(env: napi_env, value: napi_value, result: *mut c_int) -> napi_status;
    fn napi_is_typedarray(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_typedarray_info(
        env: napi_env,
        typedarray: napi_value,
        kind: *mut c_int,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut napi_value,
        byte_offset: *mut usize,
    ) -> napi_status;
    fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    fn napi_get_element(env: napi_env, object: napi_value, index: u32, result: *mut napi_value) -> napi_status;
    fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize, result: *mut usize) -> napi_status;
    fn napi_create_buffer_copy(
        env: napi_env,
        length: usize,
        data: *const c_void,
        result_data: *mut *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    fn napi_create_uint32(env: napi_env, value: u32, result: *mut napi_value) -> napi_status;
    fn napi_create_string_utf8(env: napi_env, s: *const c_char, length: usize, result: *mut napi_value) -> napi_status;
    fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_throw_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_throw_type_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_throw_range_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
    fn napi_get_last_error_info(env: napi_env, result: *mut *const napi_extended_error_info) -> napi_status;
}

/// An error to be thrown into JS. The message names the argument and the
/// reason; the exported function's name is prefixed when it is thrown.
#[derive(Debug)]
pub enum Error {
    /// Wrong JS type -> TypeError, code ERR_INVALID_ARG_TYPE.
    Type(String),
    /// Right type, unacceptable value (unknown enum string...) -> TypeError, code ERR_INVALID_ARG_VALUE.
    Value(String),
    /// Number out of range, buffer too small -> RangeError, code ERR_OUT_OF_RANGE.
    Range(String),
    /// Library/encoder failure or a bug -> Error, code ERR_TESSERA_NATIVE.
    Internal(String),
    /// A JS exception is already pending (e.g. a getter threw): rethrow it as is.
    Pending,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    unsafe fn throw(self, env: napi_env, func: &str) {
        let mut pending = false;
        napi_is_exception_pending(env, &mut pending);
        if pending {
            return;
        }
        let (code, msg, thrower): (&CStr, String, unsafe extern "C" fn(napi_env, *const c_char, *const c_char) -> napi_status) =
            match self {
                Error::Type(m) => (c"ERR_INVALID_ARG_TYPE", m, napi_throw_type_error),
                Error::Value(m) => (c"ERR_INVALID_ARG_VALUE", m, napi_throw_type_error),
                Error::Range(m) => (c"ERR_OUT_OF_RANGE", m, napi_throw_range_error),
                Error::Internal(m) => (c"ERR_TESSERA_NATIVE", m, napi_throw_error),
                Error::Pending => (c"ERR_TESSERA_NATIVE", "a Node-API call failed with a pending exception".into(), napi_throw_error),
            };
        let text = cstring(&format!("{func}: {msg}"));
        thrower(env, code.as_ptr(), text.as_ptr());
    }
}

/// CString that cannot fail: interior NULs (only possible from user strings
/// echoed in messages) are replaced.
pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).expect("NULs were replaced")
}

/// Turns a non-ok status into an Error. Must be called right after the call,
/// before any other napi_* call overwrites the last-error info.
unsafe fn check(env: napi_env, status: napi_status, what: &str) -> Result<()> {
    if status == NAPI_OK {
        return Ok(());
    }
    let mut pending = false;
    let mut info: *const napi_extended_error_info = ptr::null();
    let detail = if napi_get_last_error_info(env, &mut info) == NAPI_OK && !info.is_null() && !(*info).error_message.is_null() {
        CStr::from_ptr((*info).error_message).to_string_lossy().into_owned()
    } else {
        format!("status {status}")
    };
    napi_is_exception_pending(env, &mut pending);
    if pending {
        return Err(Error::Pending);
    }
    Err(Error::Internal(format!("{what}: Node-API call failed: {detail}")))
}

/// Runs an exported function: catches panics (unwinding into C is UB/abort)
/// and converts errors into thrown JS exceptions. Returns NULL on error, which
/// Node turns into `undefined` while the exception propagates.
pub fn call(env: napi_env, info: napi_callback_info, func: &str, f: fn(napi_env, napi_callback_info) -> Result<napi_value>) -> napi_value {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(env, info)));
    let err = match outcome {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Error::Internal(format!("internal error (bug in tessera native module): {why}"))
        }
    };
    // Throwing is itself wrapped: a panic here must not unwind into Node either.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| unsafe { err.throw(env, func) }));
    ptr::null_mut()
}

/// Defines an `extern "C"` Node-API callback that forwards to a safe Rust fn.
#[macro_export]
macro_rules! napi_export {
    ($cb:ident, $js_name:literal, $f:path) => {
        unsafe extern "C" fn $cb(env: $crate::napi::napi_env, info: $crate::napi::napi_callback_info) -> $crate::napi::napi_value {
            $crate::napi::call(env, info, $js_name, $f)
        }
    };
}

// ---------------------------------------------------------------- registration

/// # Safety
/// `env` and `exports` must come from `napi_register_module_v1`.
pub unsafe fn set_function(
    env: napi_env,
    exports: napi_value,
    name: &CStr,
    cb: unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value,
) -> Result<()> {
    let mut f = ptr::null_mut();
    check(env, napi_create_function(env, name.as_ptr(), usize::MAX /* NUL-terminated */, Some(cb), ptr::null_mut(), &mut f), "create_function")?;
    check(env, napi_set_named_property(env, exports, name.as_ptr(), f), "set_named_property")
}

/// # Safety
/// `env` and `exports` must come from `napi_register_module_v1`.
pub unsafe fn set_value(env: napi_env, exports: napi_value, name: &CStr, value: napi_value) -> Result<()> {
    check(env, napi_set_named_property(env, exports, name.as_ptr(), value), "set_named_property")
}

// ---------------------------------------------------------------- values out

pub fn undefined(env: napi_env) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    unsafe { check(env, napi_get_undefined(env, &mut v), "get_undefined")? };
    Ok(v)
}

pub fn uint32(env: napi_env, n: u32) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    unsafe { check(env, napi_create_uint32(env, n, &mut v), "create_uint32")? };
    Ok(v)
}

pub fn string(env: napi_env, s: &str) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    unsafe { check(env, napi_create_string_utf8(env, s.as_ptr().cast(), s.len(), &mut v), "create_string")? };
    Ok(v)
}

/// A new Node Buffer holding a copy of `bytes` (memory owned and accounted by V8).
pub fn buffer_copy(env: napi_env, bytes: &[u8]) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    let mut data = ptr::null_mut();
    let status = unsafe { napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v) };
    unsafe { check(env, status, "create_buffer_copy")? };
    Ok(v)
}

// ---------------------------------------------------------------- values in

/// Positional arguments; missing ones are `undefined`.
pub fn args<const N: usize>(env: napi_env, info: napi_callback_info) -> Result<[napi_value; N]> {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    unsafe { check(env, napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut()), "get_cb_info")? };
    Ok(argv)
}

fn type_of(env: napi_env, v: napi_value) -> Result<c_int> {
    let mut t = 0;
    unsafe { check(env, napi_typeof(env, v, &mut t), "typeof")? };
    Ok(t)
}

/// A readable name for the JS type of `v`, for error messages.
pub fn describe(env: napi_env, v: napi_value) -> String {
    let t = match type_of(env, v) {
        Ok(t) => t,
        Err(_) => return "unknown".into(),
    };
    let name = match t {
        T_UNDEFINED => "undefined",
        T_NULL => "null",
        T_BOOLEAN => "boolean",
        T_NUMBER => return number(env, v, "").map(|n| format!("number {n}")).unwrap_or_else(|_| "number".into()),
        T_STRING => "string",
        T_SYMBOL => "symbol",
        T_FUNCTION => "function",
        T_EXTERNAL => "external",
        T_BIGINT => "bigint",
        T_OBJECT => {
            let mut b = false;
            if unsafe { napi_is_array(env, v, &mut b) } == NAPI_OK && b {
                "Array"
            } else if unsafe { napi_is_typedarray(env, v, &mut b) } == NAPI_OK && b {
                "typed array"
            } else {
                "object"
            }
        }
        _ => "unknown",
    };
    name.into()
}

pub fn is_undefined(env: napi_env, v: napi_value) -> Result<bool> {
    Ok(type_of(env, v)? == T_UNDEFINED)
}

/// Any JS number (NaN/Infinity included; callers check).
pub fn number(env: napi_env, v: napi_value, what: &str) -> Result<f64> {
    if type_of(env, v)? != T_NUMBER {
        return Err(Error::Type(format!("{what} must be a number (got {})", describe(env, v))));
    }
    let mut x = 0.0;
    unsafe { check(env, napi_get_value_double(env, v, &mut x), what)? };
    Ok(x)
}

pub fn boolean(env: napi_env, v: napi_value, what: &str) -> Result<bool> {
    if type_of(env, v)? != T_BOOLEAN {
        return Err(Error::Type(format!("{what} must be a boolean (got {})", describe(env, v))));
    }
    let mut b = false;
    unsafe { check(env, napi_get_value_bool(env, v, &mut b), what)? };
    Ok(b)
}

pub fn finite(env: napi_env, v: napi_value, what: &str) -> Result<f64> {
    let x = number(env, v, what)?;
    if !x.is_finite() {
        return Err(Error::Range(format!("{what} = {x} must be a finite number")));
    }
    Ok(x)
}

/// An integer in `lo..=hi`.
pub fn int_in(env: napi_env, v: napi_value, what: &str, lo: u32, hi: u32) -> Result<u32> {
    let x = number(env, v, what)?;
    if x.fract() != 0.0 || !x.is_finite() {
        return Err(Error::Range(format!("{what} = {x} must be an integer")));
    }
    if x < lo as f64 || x > hi as f64 {
        return Err(Error::Range(format!("{what} = {x} is out of range {lo}..{hi}")));
    }
    Ok(x as u32)
}

/// A short string (enum-like option). Longer strings are truncated, which
/// still makes them fail validation with a readable echo.
pub fn short_string(env: napi_env, v: napi_value, what: &str) -> Result<String> {
    if type_of(env, v)? != T_STRING {
        return Err(Error::Type(format!("{what} must be a string (got {})", describe(env, v))));
    }
    let mut buf = [0u8; 64];
    let mut len = 0usize;
    unsafe { check(env, napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut len), what)? };
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// `null` or `undefined`.
pub fn is_nullish(env: napi_env, v: napi_value) -> Result<bool> {
    let t = type_of(env, v)?;
    Ok(t == T_UNDEFINED || t == T_NULL)
}

/// A string of at most `max` UTF-8 bytes with no NUL in it, ready for C
/// (credentials and paths: longer than `short_string` allows).
pub fn c_string(env: napi_env, v: napi_value, what: &str, max: usize) -> Result<CString> {
    if type_of(env, v)? != T_STRING {
        return Err(Error::Type(format!("{what} must be a string (got {})", describe(env, v))));
    }
    let mut len = 0usize;
    unsafe { check(env, napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len), what)? };
    if len > max {
        return Err(Error::Range(format!("{what} is {len} bytes long, more than {max}")));
    }
    let mut buf = vec![0u8; len + 1];
    let mut written = 0usize;
    unsafe { check(env, napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut written), what)? };
    buf.truncate(written);
    CString::new(buf).map_err(|_| Error::Value(format!("{what} must not contain a NUL character")))
}

pub fn property(env: napi_env, obj: napi_value, name: &CStr) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    unsafe { check(env, napi_get_named_property(env, obj, name.as_ptr(), &mut v), "get_named_property")? };
    Ok(v)
}

pub fn object(env: napi_env, v: napi_value, what: &str) -> Result<napi_value> {
    if type_of(env, v)? != T_OBJECT {
        return Err(Error::Type(format!("{what} must be an object (got {})", describe(env, v))));
    }
    Ok(v)
}

/// A JS Array whose length was read; elements are fetched on demand so a
/// huge array is rejected by length before anything is copied.
#[derive(Clone, Copy)]
pub struct JsArray {
    value: napi_value,
    pub len: u32,
}

pub fn array(env: napi_env, v: napi_value, what: &str) -> Result<JsArray> {
    let mut is = false;
    unsafe { check(env, napi_is_array(env, v, &mut is), what)? };
    if !is {
        return Err(Error::Type(format!("{what} must be an Array (got {})", describe(env, v))));
    }
    let mut len = 0u32;
    unsafe { check(env, napi_get_array_length(env, v, &mut len), what)? };
    Ok(JsArray { value: v, len })
}

impl JsArray {
    pub fn get(&self, env: napi_env, index: u32) -> Result<napi_value> {
        let mut e = ptr::null_mut();
        unsafe { check(env, napi_get_element(env, self.value, index, &mut e), "get_element")? };
        Ok(e)
    }
}

/// Raw memory of a TypedArray (any element type, viewed as bytes). Works for
/// views over SharedArrayBuffer, unlike napi_get_buffer_info.
#[derive(Clone, Copy)]
pub struct Bytes {
    ptr: *mut u8,
    len: usize,
}

pub fn typed_array(env: napi_env, v: napi_value, what: &str) -> Result<Bytes> {
    let mut is = false;
    unsafe { check(env, napi_is_typedarray(env, v, &mut is), what)? };
    if !is {
        return Err(Error::Type(format!("{what} must be a Uint8Array (got {})", describe(env, v))));
    }
    let (mut kind, mut length, mut data) = (0 as c_int, 0usize, ptr::null_mut::<c_void>());
    let status = unsafe { napi_get_typedarray_info(env, v, &mut kind, &mut length, &mut data, ptr::null_mut(), ptr::null_mut()) };
    unsafe { check(env, status, what)? };
    // napi_typedarray_type -> element size
    let elem = match kind {
        0..=2 => 1,
        3 | 4 => 2,
        5..=7 => 4,
        _ => 8,
    };
    let len = length * elem;
    // Detached or empty buffers may report a NULL data pointer.
    let ptr = if data.is_null() || len == 0 { ptr::NonNull::<u8>::dangling().as_ptr() } else { data.cast() };
    Ok(Bytes { ptr, len: if data.is_null() { 0 } else { len } })
}

impl Bytes {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn overlaps(&self, other: &Bytes) -> bool {
        let (a, b) = (self.ptr as usize, other.ptr as usize);
        self.len > 0 && other.len > 0 && a < b + other.len && b < a + self.len
    }

    /// # Safety
    /// The JS value must stay alive (it does for the duration of the callback)
    /// and no `as_mut` slice over the same memory may exist. Memory of a
    /// SharedArrayBuffer may be written concurrently by other threads; pixels
    /// read during such a race are garbage but memory-safe in practice.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        std::slice::from_raw_parts(self.ptr, self.len)
    }

    /// # Safety
    /// As `as_slice`, and the caller must have checked it does not overlap any
    /// other slice in use (see `overlaps`).
    pub unsafe fn as_mut<'a>(&self) -> &'a mut [u8] {
        std::slice::from_raw_parts_mut(self.ptr, self.len)
    }
}
