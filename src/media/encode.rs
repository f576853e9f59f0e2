//! The FFmpeg encoders more than one module needs: JPEG (MJPEG servers, later snapshots) from
//! our YUV 4:2:0 pictures, and AAC-LC from float samples (the audio transcoder, the simulated
//! camera's sound). Channel layouts go through FFmpeg's `ch_layout` API only. Wrong input
//! shapes (channel counts, plane sizes) are errors, never panics.

use bytes::Bytes;
use ffmpeg_next as ffmpeg;

use super::{VideoFrame, init_ffmpeg};

/// Sets `layout` to FFmpeg's default layout of `channels` channels.
///
/// # Safety
/// `layout` must point to a valid, writable `AVChannelLayout` (FFmpeg's own fields).
pub unsafe fn set_default_layout(layout: *mut ffmpeg::ffi::AVChannelLayout, channels: u16) {
    // SAFETY: guaranteed by the caller; the default layout owns no heap memory.
    unsafe {
        ffmpeg::ffi::av_channel_layout_uninit(layout);
        ffmpeg::ffi::av_channel_layout_default(layout, i32::from(channels.max(1)));
    }
}

/// Channels of a decoded audio frame, from its `ch_layout`.
pub fn frame_channels(frame: &ffmpeg::frame::Audio) -> usize {
    // SAFETY: `frame` wraps a valid AVFrame; `ch_layout` is a plain field.
    let n = unsafe { (*frame.as_ptr()).ch_layout.nb_channels };
    usize::try_from(n).unwrap_or(0)
}

/// An empty float-planar audio frame of `samples` samples per channel.
fn planar_frame(samples: usize, channels: u16, rate: u32) -> Result<ffmpeg::frame::Audio, String> {
    let mut frame = ffmpeg::frame::Audio::empty();
    // SAFETY: `frame` owns a fresh AVFrame; these are the fields av_frame_get_buffer reads.
    let status = unsafe {
        let p = frame.as_mut_ptr();
        (*p).format = ffmpeg::ffi::AVSampleFormat::AV_SAMPLE_FMT_FLTP as i32;
        (*p).nb_samples = i32::try_from(samples).map_err(|_| "frame too long")?;
        (*p).sample_rate = i32::try_from(rate).map_err(|_| "bad sample rate")?;
        set_default_layout(&mut (*p).ch_layout, channels);
        ffmpeg::ffi::av_frame_get_buffer(p, 0)
    };
    if status < 0 {
        return Err(format!(
            "cannot allocate an audio frame: {}",
            ffmpeg::Error::from(status)
        ));
    }
    Ok(frame)
}

/// FFmpeg's AAC-LC encoder fed float samples of any count; gives whole raw AAC frames.
pub struct AacEncoder {
    encoder: ffmpeg::encoder::Audio,
    channels: u16,
    asc: Vec<u8>,
    /// Samples waiting for a whole encoder frame, per channel.
    pending: Vec<Vec<f32>>,
    pts: i64,
}

impl AacEncoder {
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, String> {
        init_ffmpeg();
        let rate = i32::try_from(sample_rate).map_err(|_| "bad sample rate")?;
        let channels = channels.max(1);
        let aac = ffmpeg::encoder::find(ffmpeg::codec::Id::AAC).ok_or("no AAC encoder")?;
        let mut enc = ffmpeg::codec::Context::new_with_codec(aac)
            .encoder()
            .audio()
            .map_err(|e| e.to_string())?;
        enc.set_rate(rate);
        // SAFETY: an unopened encoder context; `ch_layout` is its own field.
        unsafe { set_default_layout(&mut (*enc.as_mut_ptr()).ch_layout, channels) };
        enc.set_format(ffmpeg::format::Sample::F32(
            ffmpeg::format::sample::Type::Planar,
        ));
        enc.set_bit_rate(32_000 * usize::from(channels));
        enc.set_time_base((1, rate));
        enc.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        let encoder = enc.open_as(aac).map_err(|e| e.to_string())?;
        // SAFETY: the opened encoder's extradata is `extradata_size` valid bytes (or null).
        let asc = unsafe {
            let p = encoder.as_ptr();
            if (*p).extradata.is_null() || (*p).extradata_size <= 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
            }
        };
        Ok(Self {
            encoder,
            channels,
            asc,
            pending: vec![Vec::new(); usize::from(channels)],
            pts: 0,
        })
    }

    /// The AudioSpecificConfig of what it encodes.
    pub fn asc(&self) -> &[u8] {
        &self.asc
    }

    /// Samples per AAC frame (1024).
    pub fn frame_size(&self) -> usize {
        (self.encoder.frame_size() as usize).max(1)
    }

    /// Queues `samples` (one slice per channel, all of one length) and returns every AAC
    /// frame now complete. Another channel count or unequal lengths are an error.
    pub fn encode(&mut self, samples: &[&[f32]]) -> Result<Vec<Vec<u8>>, String> {
        if samples.len() != self.pending.len() {
            return Err(format!(
                "{} channels given to a {}-channel encoder",
                samples.len(),
                self.pending.len()
            ));
        }
        if samples.iter().any(|s| s.len() != samples[0].len()) {
            return Err("channels of unequal length".into());
        }
        for (pending, more) in self.pending.iter_mut().zip(samples) {
            pending.extend_from_slice(more);
        }
        self.drain()
    }

    fn drain(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let size = self.frame_size();
        let mut out = Vec::new();
        while self.pending.iter().all(|p| p.len() >= size) {
            let mut frame = planar_frame(size, self.channels, self.encoder.rate())?;
            frame.set_pts(Some(self.pts));
            self.pts += size as i64;
            for (i, samples) in self.pending.iter_mut().enumerate() {
                let plane = frame.plane_mut::<f32>(i);
                let n = plane.len().min(size);
                plane[..n].copy_from_slice(&samples[..n]);
                samples.drain(..size);
            }
            self.encoder
                .send_frame(&frame)
                .map_err(|e| format!("AAC encoder: {e}"))?;
            let mut packet = ffmpeg::Packet::empty();
            while self.encoder.receive_packet(&mut packet).is_ok() {
                if let Some(payload) = packet.data() {
                    out.push(payload.to_vec());
                }
            }
        }
        Ok(out)
    }
}

/// JPEG quality 1..=100 to the MJPEG encoder's qscale (31 worst .. 2 best).
pub fn qscale(quality: u8) -> i32 {
    let q = i32::from(quality.clamp(1, 100));
    2 + (100 - q) * 29 / 99
}

/// Encodes our YUV 4:2:0 pictures as baseline JPEG, reopening itself when the size changes.
pub struct JpegEncoder {
    open: Option<((u32, u32), ffmpeg::encoder::Video)>,
    qscale: i32,
}

impl JpegEncoder {
    /// `quality` 1 (smallest) to 100 (best).
    pub fn new(quality: u8) -> Self {
        init_ffmpeg();
        Self {
            open: None,
            qscale: qscale(quality),
        }
    }

    pub fn encode(&mut self, f: &VideoFrame) -> Result<Bytes, ffmpeg::Error> {
        let lambda = self.qscale * ffmpeg::ffi::FF_QP2LAMBDA;
        if f.width == 0 || f.height == 0 {
            return Err(ffmpeg::Error::InvalidData);
        }
        if self
            .open
            .as_ref()
            .is_none_or(|(size, _)| *size != (f.width, f.height))
        {
            let codec = ffmpeg::encoder::find(ffmpeg::codec::Id::MJPEG)
                .ok_or(ffmpeg::Error::EncoderNotFound)?;
            let mut enc = ffmpeg::codec::Context::new_with_codec(codec)
                .encoder()
                .video()?;
            enc.set_width(f.width);
            enc.set_height(f.height);
            enc.set_format(ffmpeg::format::Pixel::YUVJ420P);
            enc.set_time_base((1, 25));
            enc.set_flags(ffmpeg::codec::Flags::QSCALE);
            enc.set_global_quality(lambda);
            self.open = Some((
                (f.width, f.height),
                enc.open_with(ffmpeg::Dictionary::new())?,
            ));
        }
        let Some((_, enc)) = self.open.as_mut() else {
            return Err(ffmpeg::Error::Bug);
        };
        let mut picture =
            ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUVJ420P, f.width, f.height);
        for (i, plane) in f.planes.iter().enumerate() {
            let stride = picture.stride(i);
            let dst = picture.data_mut(i);
            let row = plane.width as usize;
            for y in 0..plane.height as usize {
                let at = y * plane.stride as usize;
                let (Some(src), Some(out)) = (
                    plane.data.get(at..at + row),
                    dst.get_mut(y * stride..y * stride + row),
                ) else {
                    return Err(ffmpeg::Error::InvalidData);
                };
                out.copy_from_slice(src);
            }
        }
        // SAFETY: `picture` owns a valid AVFrame; `quality` is a plain field the MJPEG
        // encoder reads when the QSCALE flag is set.
        unsafe {
            (*picture.as_mut_ptr()).quality = lambda;
        }
        enc.send_frame(&picture)?;
        let mut packet = ffmpeg::Packet::empty();
        enc.receive_packet(&mut packet)?;
        Ok(Bytes::copy_from_slice(packet.data().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_maps_to_qscale() {
        assert_eq!(qscale(100), 2);
        assert_eq!(qscale(1), 31);
        assert_eq!(qscale(0), 31);
        assert_eq!(qscale(80), 7);
    }

    #[test]
    fn aac_encoder_refuses_the_wrong_channel_count() {
        let mut enc = AacEncoder::new(16_000, 1).unwrap();
        let one = vec![0f32; 2048];
        assert!(enc.encode(&[&one, &one]).is_err(), "two channels into mono");
        let mut stereo = AacEncoder::new(16_000, 2).unwrap();
        assert!(stereo.encode(&[&one]).is_err(), "mono into stereo");
        assert!(stereo.encode(&[&one, &one[..100]]).is_err(), "unequal");
        let frames = stereo.encode(&[&one, &one]).unwrap();
        assert!(frames.len() <= 2);
    }
}
