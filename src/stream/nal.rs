//! Annex B helpers shared by the recorder and the simulated camera: splitting an access unit
//! into NAL units and picking out its parameter sets. Pure.

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

/// Whether a NAL unit is a parameter set (H.264 SPS/PPS, H.265 VPS/SPS/PPS).
pub fn is_parameter_set(codec: VideoCodec, nal: &[u8]) -> bool {
    match codec {
        VideoCodec::H264 => matches!(nal[0] & 0x1F, 7 | 8),
        VideoCodec::H265 => matches!((nal[0] >> 1) & 0x3F, 32..=34),
    }
}

/// The parameter sets at the head of a keyframe, in order.
pub fn parameter_sets(codec: VideoCodec, access_unit: &[u8]) -> Vec<&[u8]> {
    split_annex_b(access_unit)
        .into_iter()
        .filter(|n| is_parameter_set(codec, n))
        .collect()
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
    fn h265_parameter_sets() {
        let vps = [32 << 1, 1];
        let idr = [19 << 1, 1];
        assert!(is_parameter_set(VideoCodec::H265, &vps));
        assert!(!is_parameter_set(VideoCodec::H265, &idr));
    }
}
