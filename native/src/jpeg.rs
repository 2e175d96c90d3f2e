//! Baseline JPEG via the TurboJPEG API of libjpeg-turbo (Debian package
//! libturbojpeg0-dev). TurboJPEG's setjmp/longjmp error handling stays inside
//! the C library, so no longjmp ever crosses Rust frames.
//!
//! Each thread keeps one compressor handle and one worst-case output buffer:
//! creating them per tile costs more than encoding a small tile, and with
//! TJFLAG_NOREALLOC the library never reallocates or frees our buffer.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};

use crate::napi::{self, napi_callback_info, napi_env, napi_value, Error, Result};

const TJPF_RGB: c_int = 0;
const TJPF_GRAY: c_int = 6;
const TJSAMP_420: c_int = 2;
const TJSAMP_GRAY: c_int = 3;
const TJFLAG_NOREALLOC: c_int = 1024;

/// JPEG's hard dimension limit.
pub const MAX_DIMENSION: u32 = 65500;

#[link(name = "turbojpeg")]
extern "C" {
    fn tjInitCompress() -> *mut c_void;
    fn tjDestroy(handle: *mut c_void) -> c_int;
    fn tjBufSize(width: c_int, height: c_int, subsamp: c_int) -> c_ulong;
    fn tjGetErrorStr2(handle: *mut c_void) -> *mut c_char;
    #[allow(clippy::too_many_arguments)]
    fn tjCompress2(
        handle: *mut c_void,
        src: *const u8,
        width: c_int,
        pitch: c_int,
        height: c_int,
        pixel_format: c_int,
        jpeg_buf: *mut *mut u8,
        jpeg_size: *mut c_ulong,
        subsamp: c_int,
        quality: c_int,
        flags: c_int,
    ) -> c_int;
}

struct Compressor {
    handle: *mut c_void,
    out: Vec<u8>,
}

impl Drop for Compressor {
    fn drop(&mut self) {
        unsafe { tjDestroy(self.handle) };
    }
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// Scratch kept per thread only up to this size; larger one-offs are freed.
const KEEP_SCRATCH: usize = 32 << 20;

/// Encodes and hands the JPEG bytes to `f` (they live in thread-local scratch).
/// `pixels` must hold width*height*channels bytes (validated by the caller).
pub fn encode<T>(pixels: &[u8], width: u32, height: u32, channels: u32, quality: u32, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
    let (format, subsamp) = if channels == 1 { (TJPF_GRAY, TJSAMP_GRAY) } else { (TJPF_RGB, TJSAMP_420) };
    let (w, h) = (width as c_int, height as c_int);
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let handle = unsafe { tjInitCompress() };
            if handle.is_null() {
                return Err(Error::Internal("tjInitCompress failed (out of memory?)".into()));
            }
            *slot = Some(Compressor { handle, out: Vec::new() });
        }
        let c = slot.as_mut().expect("initialised above");
        let bound = unsafe { tjBufSize(w, h, subsamp) };
        if bound == c_ulong::MAX {
            return Err(Error::Internal(format!("tjBufSize failed for {width}×{height}")));
        }
        let bound = bound as usize;
        if c.out.capacity() < bound {
            c.out = Vec::with_capacity(bound);
        }
        let mut buf = c.out.as_mut_ptr();
        let mut size: c_ulong = 0;
        // SAFETY: `buf` has capacity >= tjBufSize, which NOREALLOC requires;
        // the library writes at most that many bytes and never frees it.
        let rc = unsafe {
            tjCompress2(c.handle, pixels.as_ptr(), w, 0, h, format, &mut buf, &mut size, subsamp, quality as c_int, TJFLAG_NOREALLOC)
        };
        if rc != 0 {
            let why = unsafe { CStr::from_ptr(tjGetErrorStr2(c.handle)) }.to_string_lossy().into_owned();
            return Err(Error::Internal(format!("libjpeg-turbo failed: {why}")));
        }
        debug_assert!(buf == c.out.as_mut_ptr() && size as usize <= bound);
        // SAFETY: the library initialised `size` bytes of our buffer.
        let jpeg = unsafe { std::slice::from_raw_parts(buf, size as usize) };
        let result = f(jpeg);
        if c.out.capacity() > KEEP_SCRATCH {
            c.out = Vec::new();
        }
        Ok(result)
    })
}

/// `encodeJpeg(pixels, width, height, channels, quality) -> Buffer`
pub fn js_encode_jpeg(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [pixels, width, height, channels, quality] = napi::args::<5>(env, info)?;
    let width = napi::int_in(env, width, "width", 1, MAX_DIMENSION)?;
    let height = napi::int_in(env, height, "height", 1, MAX_DIMENSION)?;
    let channels = napi::int_in(env, channels, "channels", 1, 3)?;
    if channels == 2 {
        return Err(Error::Range("channels = 2 is not supported by JPEG; use 1 (grey) or 3 (RGB)".into()));
    }
    let quality = napi::int_in(env, quality, "quality", 1, 100)?;
    let px = napi::typed_array(env, pixels, "pixels")?;
    let need = width as usize * height as usize * channels as usize;
    if px.len() < need {
        return Err(Error::Range(format!("pixels is too small: {width}×{height}×{channels} needs {need} bytes, got {}", px.len())));
    }
    // SAFETY: the view is alive for this call and only read.
    let px = unsafe { &px.as_slice()[..need] };
    encode(px, width, height, channels, quality, |jpeg| napi::buffer_copy(env, jpeg))?
}
