//! JPEG 2000 codestream encoder through Debian's openjpeg (libopenjp2-7-dev,
//! linked as `openjp2`). Writes a raw J2K codestream (SOC..EOC, no JP2 boxes),
//! which is what NITF IC=C8 carries, through an in-memory output stream
//! (write/skip/seek callbacks into a Vec).
//!
//! Defaults: reversible 5/3 wavelet (numerically lossless) unless a
//! compression ratio is asked for, then the irreversible 9/7 wavelet with one
//! quality layer at that ratio; the RGB->YCC component transform for 3
//! components (as GDAL's JP2OpenJPEG YCC=YES); up to 6 resolution levels
//! (fewer for small images); 64x64 code-blocks; one tile.
//!
//! openjpeg reports errors through callbacks that we collect into the thrown
//! message; the callbacks and the stream functions never panic (a panic in an
//! `extern "C"` fn aborts the process).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::{offset_of, size_of};

use crate::napi::{self, napi_callback_info, napi_env, napi_value, Error, Result};

// ------------------------------------------------------------------ FFI (openjpeg 2.5)

type OpjBool = c_int;

const OPJ_PATH_LEN: usize = 4096;
const OPJ_J2K_MAXRLVLS: usize = 33;
const JPWL_MAX_NO_TILESPECS: usize = 16;
const JPWL_MAX_NO_PACKSPECS: usize = 16;

const OPJ_CODEC_J2K: c_int = 0;
const OPJ_CLRSPC_UNSPECIFIED: c_int = 0;
const OPJ_CLRSPC_SRGB: c_int = 1;
const OPJ_CLRSPC_GRAY: c_int = 2;
/// OPJ_J2K_STREAM_CHUNK_SIZE: the library's own default stream buffer.
const STREAM_CHUNK: usize = 0x100000;

#[repr(C)]
struct OpjPoc {
    resno0: u32,
    compno0: u32,
    layno1: u32,
    resno1: u32,
    compno1: u32,
    layno0: u32,
    precno0: u32,
    precno1: u32,
    prg1: c_int,
    prg: c_int,
    progorder: [c_char; 5],
    tile: u32,
    tx0: u32,
    tx1: u32,
    ty0: u32,
    ty1: u32,
    lay_s: u32,
    res_s: u32,
    comp_s: u32,
    prc_s: u32,
    lay_e: u32,
    res_e: u32,
    comp_e: u32,
    prc_e: u32,
    tx_s: u32,
    tx_e: u32,
    ty_s: u32,
    ty_e: u32,
    dx: u32,
    dy: u32,
    lay_t: u32,
    res_t: u32,
    comp_t: u32,
    prc_t: u32,
    tx0_t: u32,
    ty0_t: u32,
}

/// opj_cparameters_t, field for field (openjpeg.h of 2.5.0). Only a few are
/// set here; the rest keep opj_set_default_encoder_parameters' values.
#[repr(C)]
struct OpjCParameters {
    tile_size_on: OpjBool,
    cp_tx0: c_int,
    cp_ty0: c_int,
    cp_tdx: c_int,
    cp_tdy: c_int,
    cp_disto_alloc: c_int,
    cp_fixed_alloc: c_int,
    cp_fixed_quality: c_int,
    cp_matrice: *mut c_int,
    cp_comment: *mut c_char,
    csty: c_int,
    prog_order: c_int,
    poc: [OpjPoc; 32],
    numpocs: u32,
    tcp_numlayers: c_int,
    tcp_rates: [f32; 100],
    tcp_distoratio: [f32; 100],
    numresolution: c_int,
    cblockw_init: c_int,
    cblockh_init: c_int,
    mode: c_int,
    irreversible: c_int,
    roi_compno: c_int,
    roi_shift: c_int,
    res_spec: c_int,
    prcw_init: [c_int; OPJ_J2K_MAXRLVLS],
    prch_init: [c_int; OPJ_J2K_MAXRLVLS],
    infile: [c_char; OPJ_PATH_LEN],
    outfile: [c_char; OPJ_PATH_LEN],
    index_on: c_int,
    index: [c_char; OPJ_PATH_LEN],
    image_offset_x0: c_int,
    image_offset_y0: c_int,
    subsampling_dx: c_int,
    subsampling_dy: c_int,
    decod_format: c_int,
    cod_format: c_int,
    jpwl_epc_on: OpjBool,
    jpwl_hprot_mh: c_int,
    jpwl_hprot_tph_tileno: [c_int; JPWL_MAX_NO_TILESPECS],
    jpwl_hprot_tph: [c_int; JPWL_MAX_NO_TILESPECS],
    jpwl_pprot_tileno: [c_int; JPWL_MAX_NO_PACKSPECS],
    jpwl_pprot_packno: [c_int; JPWL_MAX_NO_PACKSPECS],
    jpwl_pprot: [c_int; JPWL_MAX_NO_PACKSPECS],
    jpwl_sens_size: c_int,
    jpwl_sens_addr: c_int,
    jpwl_sens_range: c_int,
    jpwl_sens_mh: c_int,
    jpwl_sens_tph_tileno: [c_int; JPWL_MAX_NO_TILESPECS],
    jpwl_sens_tph: [c_int; JPWL_MAX_NO_TILESPECS],
    cp_cinema: c_int,
    max_comp_size: c_int,
    cp_rsiz: c_int,
    tp_on: c_char,
    tp_flag: c_char,
    tcp_mct: c_char,
    jpip_on: OpjBool,
    mct_data: *mut c_void,
    max_cs_size: c_int,
    rsiz: u16,
}

#[repr(C)]
struct OpjImageCmptParm {
    dx: u32,
    dy: u32,
    w: u32,
    h: u32,
    x0: u32,
    y0: u32,
    prec: u32,
    bpp: u32,
    sgnd: u32,
}

#[repr(C)]
struct OpjImageComp {
    dx: u32,
    dy: u32,
    w: u32,
    h: u32,
    x0: u32,
    y0: u32,
    prec: u32,
    bpp: u32,
    sgnd: u32,
    resno_decoded: u32,
    factor: u32,
    data: *mut i32,
    alpha: u16,
}

#[repr(C)]
struct OpjImage {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    numcomps: u32,
    color_space: c_int,
    comps: *mut OpjImageComp,
    icc_profile_buf: *mut u8,
    icc_profile_len: u32,
}

// Layouts checked against openjpeg.h 2.5.0 on x86_64/aarch64 Linux with a C
// program printing sizeof/offsetof (a mismatch would corrupt memory silently).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<OpjPoc>() == 148);
    assert!(size_of::<OpjCParameters>() == 18720);
    assert!(offset_of!(OpjCParameters, cp_disto_alloc) == 20);
    assert!(offset_of!(OpjCParameters, poc) == 56);
    assert!(offset_of!(OpjCParameters, tcp_numlayers) == 4796);
    assert!(offset_of!(OpjCParameters, tcp_rates) == 4800);
    assert!(offset_of!(OpjCParameters, numresolution) == 5600);
    assert!(offset_of!(OpjCParameters, irreversible) == 5616);
    assert!(offset_of!(OpjCParameters, cod_format) == 18208);
    assert!(offset_of!(OpjCParameters, tcp_mct) == 18698);
    assert!(offset_of!(OpjCParameters, rsiz) == 18716);
    assert!(size_of::<OpjImage>() == 48 && offset_of!(OpjImage, comps) == 24);
    assert!(size_of::<OpjImageComp>() == 64 && offset_of!(OpjImageComp, data) == 48);
    assert!(size_of::<OpjImageCmptParm>() == 36);
};

type OpjMsgCallback = Option<unsafe extern "C" fn(msg: *const c_char, client_data: *mut c_void)>;
type WriteFn = Option<unsafe extern "C" fn(buffer: *mut c_void, n: usize, user: *mut c_void) -> usize>;
type SkipFn = Option<unsafe extern "C" fn(n: i64, user: *mut c_void) -> i64>;
type SeekFn = Option<unsafe extern "C" fn(n: i64, user: *mut c_void) -> OpjBool>;
type FreeFn = Option<unsafe extern "C" fn(user: *mut c_void)>;

#[link(name = "openjp2")]
extern "C" {
    fn opj_create_compress(format: c_int) -> *mut c_void;
    fn opj_destroy_codec(codec: *mut c_void);
    fn opj_set_default_encoder_parameters(parameters: *mut OpjCParameters);
    fn opj_setup_encoder(codec: *mut c_void, parameters: *mut OpjCParameters, image: *mut OpjImage) -> OpjBool;
    fn opj_start_compress(codec: *mut c_void, image: *mut OpjImage, stream: *mut c_void) -> OpjBool;
    fn opj_encode(codec: *mut c_void, stream: *mut c_void) -> OpjBool;
    fn opj_end_compress(codec: *mut c_void, stream: *mut c_void) -> OpjBool;
    fn opj_set_error_handler(codec: *mut c_void, handler: OpjMsgCallback, client_data: *mut c_void) -> OpjBool;
    fn opj_set_warning_handler(codec: *mut c_void, handler: OpjMsgCallback, client_data: *mut c_void) -> OpjBool;
    fn opj_set_info_handler(codec: *mut c_void, handler: OpjMsgCallback, client_data: *mut c_void) -> OpjBool;
    fn opj_image_create(numcmpts: u32, cmptparms: *mut OpjImageCmptParm, clrspc: c_int) -> *mut OpjImage;
    fn opj_image_destroy(image: *mut OpjImage);
    fn opj_stream_create(buffer_size: usize, is_input: OpjBool) -> *mut c_void;
    fn opj_stream_destroy(stream: *mut c_void);
    fn opj_stream_set_write_function(stream: *mut c_void, f: WriteFn);
    fn opj_stream_set_skip_function(stream: *mut c_void, f: SkipFn);
    fn opj_stream_set_seek_function(stream: *mut c_void, f: SeekFn);
    fn opj_stream_set_user_data(stream: *mut c_void, data: *mut c_void, free: FreeFn);
}

// ------------------------------------------------------------------ owned handles

struct Codec(*mut c_void);
impl Drop for Codec {
    fn drop(&mut self) {
        unsafe { opj_destroy_codec(self.0) };
    }
}
struct Image(*mut OpjImage);
impl Drop for Image {
    fn drop(&mut self) {
        unsafe { opj_image_destroy(self.0) };
    }
}
struct Stream(*mut c_void);
impl Drop for Stream {
    fn drop(&mut self) {
        unsafe { opj_stream_destroy(self.0) };
    }
}

// ------------------------------------------------------------------ callbacks

/// Error messages from openjpeg, in order (each ends with a newline).
unsafe extern "C" fn on_error(msg: *const c_char, client_data: *mut c_void) {
    if msg.is_null() || client_data.is_null() {
        return;
    }
    let log = &mut *(client_data as *mut String);
    if log.len() < 4096 {
        log.push_str(CStr::from_ptr(msg).to_string_lossy().trim_end());
        log.push_str("; ");
    }
}

unsafe extern "C" fn ignore(_msg: *const c_char, _client_data: *mut c_void) {}

/// The codestream being written; openjpeg writes sequentially, and skips or
/// seeks back to patch marker lengths (TLM/PLT) when those are enabled.
struct Sink {
    buf: Vec<u8>,
    pos: usize,
}

unsafe extern "C" fn sink_write(buffer: *mut c_void, n: usize, user: *mut c_void) -> usize {
    let sink = &mut *(user as *mut Sink);
    let end = sink.pos + n;
    if end > sink.buf.len() {
        sink.buf.resize(end, 0);
    }
    std::ptr::copy_nonoverlapping(buffer as *const u8, sink.buf.as_mut_ptr().add(sink.pos), n);
    sink.pos = end;
    n
}

unsafe extern "C" fn sink_skip(n: i64, user: *mut c_void) -> i64 {
    let sink = &mut *(user as *mut Sink);
    let to = sink.pos as i64 + n;
    if to < 0 {
        return -1;
    }
    let to = to as usize;
    if to > sink.buf.len() {
        sink.buf.resize(to, 0);
    }
    sink.pos = to;
    n
}

unsafe extern "C" fn sink_seek(n: i64, user: *mut c_void) -> OpjBool {
    let sink = &mut *(user as *mut Sink);
    if n < 0 {
        return 0;
    }
    let to = n as usize;
    if to > sink.buf.len() {
        sink.buf.resize(to, 0);
    }
    sink.pos = to;
    1
}

// ------------------------------------------------------------------ encoder

pub struct J2kParams {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    /// 8 or 16: the sample container in `pixels`.
    pub bit_depth: u32,
    /// Bits actually used (1..=bit_depth), the codestream's component precision.
    pub precision: u32,
    /// Two's complement samples (Int16 / Int8 containers).
    pub signed: bool,
    /// 5/3 reversible wavelet (lossless when no ratio truncates it).
    pub reversible: bool,
    /// Target compression ratio (e.g. 20 for 20:1); None = all coefficients kept.
    pub ratio: Option<f64>,
}

/// Resolution levels: openjpeg's default 6, fewer when the image is so small
/// that the lowest resolution would be empty (the library refuses that).
fn resolutions(width: u32, height: u32) -> c_int {
    let side = width.min(height).max(1);
    let levels = 32 - side.leading_zeros(); // floor(log2(side)) + 1
    levels.clamp(1, 6) as c_int
}

/// Encodes BIP `pixels` (native-endian samples) into a J2K codestream.
pub fn encode(pixels: &[u8], p: &J2kParams) -> Result<Vec<u8>> {
    let (w, h, nc) = (p.width as usize, p.height as usize, p.channels as usize);
    let n = w * h;

    let mut cmpt: Vec<OpjImageCmptParm> = (0..nc)
        .map(|_| OpjImageCmptParm { dx: 1, dy: 1, w: p.width, h: p.height, x0: 0, y0: 0, prec: p.precision, bpp: p.precision, sgnd: p.signed as u32 })
        .collect();
    let space = match nc {
        1 => OPJ_CLRSPC_GRAY,
        3 => OPJ_CLRSPC_SRGB,
        _ => OPJ_CLRSPC_UNSPECIFIED,
    };
    let image = Image(unsafe { opj_image_create(nc as u32, cmpt.as_mut_ptr(), space) });
    if image.0.is_null() {
        return Err(Error::Internal(format!("opj_image_create failed for {}×{}×{nc} (out of memory?)", p.width, p.height)));
    }
    // SAFETY: opj_image_create allocated `nc` components of w*h samples each.
    let comps = unsafe {
        let img = &mut *image.0;
        img.x0 = 0;
        img.y0 = 0;
        img.x1 = p.width;
        img.y1 = p.height;
        std::slice::from_raw_parts_mut(img.comps, nc)
    };
    let mut planes: Vec<&mut [i32]> = Vec::with_capacity(nc);
    for c in comps.iter_mut() {
        if c.data.is_null() {
            return Err(Error::Internal("opj_image_create left a component without data (out of memory?)".into()));
        }
        planes.push(unsafe { std::slice::from_raw_parts_mut(c.data, n) });
    }
    deinterleave(pixels, p, &mut planes)?;

    let mut params: Box<std::mem::MaybeUninit<OpjCParameters>> = Box::new_uninit();
    // SAFETY: opj_set_default_encoder_parameters initialises every field.
    let mut params = unsafe {
        opj_set_default_encoder_parameters(params.as_mut_ptr());
        params.assume_init()
    };
    params.tcp_numlayers = 1;
    params.tcp_rates[0] = p.ratio.map_or(0.0, |r| r as f32); // 0 = keep everything
    params.cp_disto_alloc = 1;
    params.irreversible = (!p.reversible) as c_int;
    params.numresolution = resolutions(p.width, p.height);
    params.tcp_mct = (nc == 3) as c_char;
    params.cod_format = 0; // J2K codestream

    let codec = Codec(unsafe { opj_create_compress(OPJ_CODEC_J2K) });
    if codec.0.is_null() {
        return Err(Error::Internal("opj_create_compress failed (out of memory?)".into()));
    }
    let mut log = String::new();
    let log_ptr = &mut log as *mut String as *mut c_void;
    unsafe {
        opj_set_error_handler(codec.0, Some(on_error), log_ptr);
        opj_set_warning_handler(codec.0, Some(ignore), std::ptr::null_mut());
        opj_set_info_handler(codec.0, Some(ignore), std::ptr::null_mut());
    }
    let failed = |step: &str, log: &str| {
        let why = if log.is_empty() { "no detail".to_string() } else { log.trim_end_matches("; ").to_string() };
        Error::Internal(format!("openjpeg {step} failed: {why}"))
    };
    if unsafe { opj_setup_encoder(codec.0, &mut *params, image.0) } == 0 {
        return Err(failed("opj_setup_encoder", &log));
    }

    // A compressed tile is smaller than the raw samples except for noise; the
    // Vec grows if needed.
    let mut sink = Sink { buf: Vec::with_capacity(pixels.len() / 2 + 1024), pos: 0 };
    let stream = Stream(unsafe { opj_stream_create(STREAM_CHUNK, 0) });
    if stream.0.is_null() {
        return Err(Error::Internal("opj_stream_create failed (out of memory?)".into()));
    }
    unsafe {
        opj_stream_set_write_function(stream.0, Some(sink_write));
        opj_stream_set_skip_function(stream.0, Some(sink_skip));
        opj_stream_set_seek_function(stream.0, Some(sink_seek));
        // No free function: `sink` lives on this stack frame and outlives the stream.
        opj_stream_set_user_data(stream.0, &mut sink as *mut Sink as *mut c_void, None);
    }
    if unsafe { opj_start_compress(codec.0, image.0, stream.0) } == 0 {
        return Err(failed("opj_start_compress", &log));
    }
    if unsafe { opj_encode(codec.0, stream.0) } == 0 {
        return Err(failed("opj_encode", &log));
    }
    if unsafe { opj_end_compress(codec.0, stream.0) } == 0 {
        return Err(failed("opj_end_compress", &log));
    }
    // The stream flushes its buffer into the sink on end_compress; drop it
    // (and the codec) before taking the bytes.
    drop(stream);
    drop(codec);
    Ok(sink.buf)
}

/// Splits BIP samples into the component planes (i32), checking that every
/// sample fits the declared precision (openjpeg would silently wrap it).
fn deinterleave(pixels: &[u8], p: &J2kParams, planes: &mut [&mut [i32]]) -> Result<()> {
    let nc = planes.len();
    let (lo, hi): (i64, i64) = if p.signed { (-(1 << (p.precision - 1)), (1 << (p.precision - 1)) - 1) } else { (0, (1 << p.precision) - 1) };
    let mut seen_lo = i64::MAX;
    let mut seen_hi = i64::MIN;
    macro_rules! split {
        ($bytes:literal, $decode:expr) => {{
            let decode = $decode;
            let samples = pixels.as_chunks::<$bytes>().0;
            for (i, px) in samples.chunks_exact(nc).enumerate() {
                for (c, s) in px.iter().enumerate() {
                    let v: i32 = decode(*s);
                    seen_lo = seen_lo.min(v as i64);
                    seen_hi = seen_hi.max(v as i64);
                    planes[c][i] = v;
                }
            }
        }};
    }
    match (p.bit_depth, p.signed) {
        (8, false) => split!(1, |s: [u8; 1]| s[0] as i32),
        (8, true) => split!(1, |s: [u8; 1]| s[0] as i8 as i32),
        (16, false) => split!(2, |s: [u8; 2]| u16::from_ne_bytes(s) as i32),
        (_, _) => split!(2, |s: [u8; 2]| i16::from_ne_bytes(s) as i32),
    }
    if seen_lo < lo || seen_hi > hi {
        let bad = if seen_lo < lo { seen_lo } else { seen_hi };
        return Err(Error::Range(format!(
            "pixels holds the sample {bad}, outside the {}-bit {} range {lo}..{hi} given by options.precision",
            p.precision,
            if p.signed { "signed" } else { "unsigned" }
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------ JS entry

/// `encodeJ2k(pixels, width, height, channels, bitDepth, options?) -> Buffer`
/// options: { reversible?: boolean, compressionRatio?: number, precision?: number, signed?: boolean }
pub fn js_encode_j2k(env: napi_env, info: napi_callback_info) -> Result<napi_value> {
    let [pixels, width, height, channels, depth, options] = napi::args::<6>(env, info)?;
    // The codestream's SIZ marker holds 32-bit sizes, but openjpeg's own
    // buffers are sized in 32-bit ints; tiles are far smaller anyway.
    let width = napi::int_in(env, width, "width", 1, 1 << 20)?;
    let height = napi::int_in(env, height, "height", 1, 1 << 20)?;
    // Csiz: JPEG 2000 allows up to 16384 components.
    let channels = napi::int_in(env, channels, "channels", 1, 16384)?;
    let depth = napi::int_in(env, depth, "bitDepth", 8, 16)?;
    if depth != 8 && depth != 16 {
        return Err(Error::Range(format!("bitDepth = {depth} is not supported; use 8 or 16")));
    }

    let mut reversible = None;
    let mut ratio = None;
    let mut precision = depth;
    let mut signed = false;
    if !napi::is_undefined(env, options)? {
        let o = napi::object(env, options, "options")?;
        let v = napi::property(env, o, c"reversible")?;
        if !napi::is_undefined(env, v)? {
            reversible = Some(napi::boolean(env, v, "options.reversible")?);
        }
        let v = napi::property(env, o, c"compressionRatio")?;
        if !napi::is_undefined(env, v)? {
            let r = napi::finite(env, v, "options.compressionRatio")?;
            if r < 1.0 {
                return Err(Error::Range(format!("options.compressionRatio = {r} must be at least 1 (e.g. 20 for 20:1)")));
            }
            ratio = Some(r);
        }
        let v = napi::property(env, o, c"precision")?;
        if !napi::is_undefined(env, v)? {
            precision = napi::int_in(env, v, "options.precision", 1, depth)?;
        }
        let v = napi::property(env, o, c"signed")?;
        if !napi::is_undefined(env, v)? {
            signed = napi::boolean(env, v, "options.signed")?;
        }
    }
    if signed && precision < 2 {
        return Err(Error::Range("options.precision = 1 cannot hold signed samples; use 2 or more".into()));
    }
    let px = napi::typed_array(env, pixels, "pixels")?;
    let need = (width as usize) * (height as usize) * (channels as usize) * (depth as usize / 8);
    if px.len() < need {
        return Err(Error::Range(format!(
            "pixels is too small: {width}×{height}×{channels} at {depth} bits needs {need} bytes, got {}",
            px.len()
        )));
    }
    // SAFETY: the view is alive for this call and only read.
    let px = unsafe { &px.as_slice()[..need] };
    let params = J2kParams {
        width,
        height,
        channels,
        bit_depth: depth,
        precision,
        signed,
        reversible: reversible.unwrap_or(ratio.is_none()),
        ratio,
    };
    let codestream = encode(px, &params)?;
    napi::buffer_copy(env, &codestream)
}
