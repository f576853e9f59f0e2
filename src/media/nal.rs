//! Annex B helpers shared by the client, the recorder and the simulated camera: splitting an
//! access unit into NAL units, NAL types, parameter sets, and avcC/hvcC records. Pure; any
//! input (empty, truncated, garbage) gives an answer, never a panic.

use super::VideoCodec;

/// Splits an Annex B byte stream into NAL units (without start codes).
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        // A 4-byte start code leaves a zero before the 3-byte one; trailing zeros belong to no NAL.
        while end > s && data[end - 1] == 0 {
            end -= 1;
        }
        if end > s {
            nals.push(&data[s..end]);
        }
    }
    nals
}

/// The NAL unit type from a NAL unit's header (`None` for an empty unit).
pub fn nal_type(codec: VideoCodec, nal: &[u8]) -> Option<u8> {
    let first = *nal.first()?;
    Some(match codec {
        VideoCodec::H264 => first & 0x1F,
        VideoCodec::H265 => (first >> 1) & 0x3F,
    })
}

/// Whether a NAL unit is a parameter set (H.264 SPS/PPS, H.265 VPS/SPS/PPS).
pub fn is_parameter_set(codec: VideoCodec, nal: &[u8]) -> bool {
    match (codec, nal_type(codec, nal)) {
        (VideoCodec::H264, Some(t)) => matches!(t, 7 | 8),
        (VideoCodec::H265, Some(t)) => matches!(t, 32..=34),
        (_, None) => false,
    }
}

/// The parameter sets at the head of a keyframe, in order.
pub fn parameter_sets(codec: VideoCodec, access_unit: &[u8]) -> Vec<&[u8]> {
    split_annex_b(access_unit)
        .into_iter()
        .filter(|n| is_parameter_set(codec, n))
        .collect()
}

/// Whether an access unit starts a picture a decoder can begin at: an H.264 IDR, or an H.265
/// IRAP (IDR, CRA or BLA: cameras with open GOPs send CRA keyframes).
pub fn is_random_access(codec: VideoCodec, access_unit: &[u8]) -> bool {
    split_annex_b(access_unit)
        .iter()
        .any(|n| match (codec, nal_type(codec, n)) {
            (VideoCodec::H264, Some(t)) => t == 5,
            (VideoCodec::H265, Some(t)) => (16..=23).contains(&t),
            (_, None) => false,
        })
}

/// The parameter sets of an avcC (H.264) or hvcC (H.265) record, as Annex B. Already Annex B
/// input (retina gives that for Annex B framing) is returned as it is.
pub fn annex_b_from_config(codec: VideoCodec, config: &[u8]) -> Option<Vec<u8>> {
    if config.starts_with(&[0, 0, 0, 1]) || config.starts_with(&[0, 0, 1]) {
        return Some(config.to_vec());
    }
    let mut nals: Vec<&[u8]> = Vec::new();
    let take = |at: &mut usize| -> Option<&[u8]> {
        let len = usize::from(u16::from_be_bytes([
            *config.get(*at)?,
            *config.get(*at + 1)?,
        ]));
        let nal = config.get(*at + 2..*at + 2 + len)?;
        *at += 2 + len;
        Some(nal)
    };
    match codec {
        VideoCodec::H264 => {
            // version, profile, compat, level, length size; then SPS count and SPSs, PPS count and PPSs.
            let mut at = 5;
            let sps = *config.get(at)? & 0x1F;
            at += 1;
            for _ in 0..sps {
                nals.push(take(&mut at)?);
            }
            let pps = *config.get(at)?;
            at += 1;
            for _ in 0..pps {
                nals.push(take(&mut at)?);
            }
        }
        VideoCodec::H265 => {
            let mut at = 22;
            let arrays = *config.get(at)?;
            at += 1;
            for _ in 0..arrays {
                at += 1; // array completeness + NAL type
                let count = u16::from_be_bytes([*config.get(at)?, *config.get(at + 1)?]);
                at += 2;
                for _ in 0..count {
                    nals.push(take(&mut at)?);
                }
            }
        }
    }
    (!nals.is_empty()).then(|| join_annex_b(&nals))
}

/// NAL units joined with 4-byte start codes.
pub fn join_annex_b(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals = split_annex_b(&data);
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
        assert_eq!(
            parameter_sets(VideoCodec::H264, &data),
            vec![&[0x67, 1, 2][..], &[0x68, 3][..]]
        );
        assert_eq!(
            join_annex_b(&[&[0x67, 1], &[0x68]]),
            vec![0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68]
        );
    }

    #[test]
    fn avcc_to_annex_b() {
        // avcC: v1, profile 0x64, compat 0, level 0x1f, 0xff; 1 SPS [0x67, 1]; 1 PPS [0x68, 2].
        let avcc = [
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 1, 1, 0, 2, 0x68, 2,
        ];
        assert_eq!(
            annex_b_from_config(VideoCodec::H264, &avcc),
            Some(vec![0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2])
        );
        assert_eq!(
            annex_b_from_config(VideoCodec::H264, &avcc[..9]),
            None,
            "truncated"
        );
    }

    #[test]
    fn hvcc_to_annex_b() {
        let mut hvcc = vec![1u8; 22];
        hvcc.push(2); // two arrays
        hvcc.extend([0x20, 0, 1, 0, 2, 0x40, 1]); // VPS
        hvcc.extend([0x21, 0, 1, 0, 3, 0x42, 1, 2]); // SPS
        let want = [vec![0, 0, 0, 1, 0x40, 1], vec![0, 0, 0, 1, 0x42, 1, 2]].concat();
        assert_eq!(annex_b_from_config(VideoCodec::H265, &hvcc), Some(want));
    }

    #[test]
    fn random_access_pictures() {
        assert!(is_random_access(VideoCodec::H264, &[0, 0, 1, 0x65, 1]));
        assert!(!is_random_access(VideoCodec::H264, &[0, 0, 1, 0x41, 1]));
        assert!(
            is_random_access(
                VideoCodec::H265,
                &[0, 0, 1, 39 << 1, 1, 0, 0, 1, 21 << 1, 1]
            ),
            "CRA"
        );
        assert!(!is_random_access(VideoCodec::H265, &[0, 0, 1, 1 << 1, 1]));
    }

    #[test]
    fn empty_and_truncated_input_is_an_answer_not_a_panic() {
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            assert!(!is_parameter_set(codec, &[]));
            assert_eq!(nal_type(codec, &[]), None);
            assert!(!is_random_access(codec, &[0, 0, 1]));
            assert!(parameter_sets(codec, &[0, 0, 0, 1, 0, 0, 1]).is_empty());
            assert_eq!(annex_b_from_config(codec, &[]), None);
            assert_eq!(annex_b_from_config(codec, &[1, 2, 3]), None);
        }
    }

    #[test]
    fn h265_parameter_sets() {
        let vps = [32 << 1, 1];
        let idr = [19 << 1, 1];
        assert!(is_parameter_set(VideoCodec::H265, &vps));
        assert!(!is_parameter_set(VideoCodec::H265, &idr));
    }
}
