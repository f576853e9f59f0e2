//! G.711 (ITU-T G.711) µ-law and A-law, pure: 16-bit linear samples to 8-bit codes and back.
//! Written out (a few lines each) rather than through FFmpeg's `pcm_mulaw`/`pcm_alaw`, whose
//! frame set-up costs more code than the codec; the tests check both against FFmpeg's decoder.

/// µ-law (PCMU, RTP payload type 0) of one sample.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    let magnitude = s.abs().min(CLIP) + BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = (31 - (magnitude as u32).leading_zeros())
        .saturating_sub(7)
        .min(7) as i32;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// The linear sample of a µ-law code.
pub fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let exponent = i32::from((c >> 4) & 0x07);
    let mantissa = i32::from(c & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if c & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A-law (PCMA, RTP payload type 8) of one sample.
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample) >> 3; // 13-bit
    let (sign, magnitude) = if s >= 0 { (0x80, s) } else { (0, -s - 1) };
    let magnitude = magnitude.min(0x0FFF);
    let code = if magnitude < 32 {
        magnitude >> 1
    } else {
        let exponent = (31 - (magnitude as u32).leading_zeros()) as i32 - 4;
        (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    };
    ((sign | code) ^ 0x55) as u8
}

/// The linear sample of an A-law code.
pub fn alaw_decode(code: u8) -> i16 {
    let c = i32::from(code ^ 0x55);
    let exponent = (c >> 4) & 0x07;
    let mantissa = c & 0x0F;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if c & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FFmpeg's decoder of `id` applied to `codes`.
    fn ffmpeg_decode(id: ffmpeg_next::codec::Id, codes: &[u8]) -> Vec<i16> {
        use ffmpeg_next as ffmpeg;
        crate::media::init_ffmpeg();
        let codec = ffmpeg::decoder::find(id).unwrap();
        let mut ctx = ffmpeg::codec::Context::new_with_codec(codec);
        // SAFETY: an unopened decoder context; G.711 needs only rate and channels.
        unsafe {
            let p = ctx.as_mut_ptr();
            (*p).sample_rate = 8000;
            crate::media::encode::set_default_layout(&mut (*p).ch_layout, 1);
        }
        let mut dec = ctx.decoder().audio().unwrap();
        dec.send_packet(&ffmpeg::Packet::copy(codes)).unwrap();
        let mut frame = ffmpeg::frame::Audio::empty();
        dec.receive_frame(&mut frame).unwrap();
        frame.plane::<i16>(0).to_vec()
    }

    #[test]
    fn every_code_decodes_as_ffmpeg_decodes_it_and_encodes_back_to_itself() {
        let codes: Vec<u8> = (0..=255).collect();
        let ours_u: Vec<i16> = codes.iter().map(|&c| ulaw_decode(c)).collect();
        let ours_a: Vec<i16> = codes.iter().map(|&c| alaw_decode(c)).collect();
        assert_eq!(
            ours_u,
            ffmpeg_decode(ffmpeg_next::codec::Id::PCM_MULAW, &codes)
        );
        assert_eq!(
            ours_a,
            ffmpeg_decode(ffmpeg_next::codec::Id::PCM_ALAW, &codes)
        );
        for c in 0..=255u8 {
            // µ-law has two codes for zero (0x7F, 0xFF); both decode to 0.
            if c != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(c)), c, "µ-law {c:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(c)), c, "A-law {c:#04x}");
        }
    }

    #[test]
    fn encoding_keeps_the_signal_within_the_quantisation_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            for (enc, dec) in [
                (ulaw_encode as fn(i16) -> u8, ulaw_decode as fn(u8) -> i16),
                (alaw_encode, alaw_decode),
            ] {
                let back = i32::from(dec(enc(s)));
                let err = (back - i32::from(s)).abs();
                // Logarithmic steps: at most 1/16 of the magnitude, plus the smallest step.
                assert!(err <= i32::from(s).abs() / 16 + 140, "{s} → {back}");
            }
        }
    }
}
