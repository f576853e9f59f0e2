//! RTP packetization of H.264 (RFC 6184) and H.265 (RFC 7798) access units, and of AAC
//! frames (RFC 3640, AAC-hbr). Pure: NAL units or AAC frames in, RTP packets out.

use crate::media::VideoCodec;

/// Largest RTP payload; keeps UDP datagrams under a 1500-byte MTU.
pub const MAX_PAYLOAD: usize = 1400;
pub const PAYLOAD_TYPE: u8 = 96;
/// The audio track's payload type (dynamic, `MPEG4-GENERIC`).
pub const AUDIO_PAYLOAD_TYPE: u8 = 97;

/// Numbering state of one outgoing RTP stream.
#[derive(Debug, Clone)]
pub struct RtpState {
    pub ssrc: u32,
    pub seq: u16,
}

impl RtpState {
    fn header(&mut self, marker: bool, timestamp: u32, out: &mut Vec<u8>) {
        self.header_pt(PAYLOAD_TYPE, marker, timestamp, out);
    }

    fn header_pt(&mut self, pt: u8, marker: bool, timestamp: u32, out: &mut Vec<u8>) {
        out.push(0x80);
        out.push(pt | if marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
    }

    /// One RTP packet carrying one AAC frame: a 16-bit AU-headers-length (16 bits), one
    /// AU-header (13-bit size, 3-bit index 0), the frame.
    pub fn aac(&mut self, frame: &[u8], timestamp: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + frame.len());
        self.header_pt(AUDIO_PAYLOAD_TYPE, true, timestamp, &mut out);
        let size = frame.len().min(0x1FFF) as u16;
        out.extend_from_slice(&16u16.to_be_bytes());
        out.extend_from_slice(&(size << 3).to_be_bytes());
        out.extend_from_slice(&frame[..usize::from(size)]);
        out
    }

    /// RTP packets for one access unit; the marker bit is set on the last.
    pub fn packetize(&mut self, codec: VideoCodec, nals: &[&[u8]], timestamp: u32) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        for (n, nal) in nals.iter().enumerate() {
            let last_nal = n + 1 == nals.len();
            if nal.len() <= MAX_PAYLOAD {
                let mut p = Vec::with_capacity(12 + nal.len());
                self.header(last_nal, timestamp, &mut p);
                p.extend_from_slice(nal);
                packets.push(p);
                continue;
            }
            // Fragmentation units: FU-A (H.264, type 28) or FU (H.265, type 49).
            let (prefix, body): (Vec<u8>, &[u8]) = match codec {
                VideoCodec::H264 => (vec![(nal[0] & 0xE0) | 28, nal[0] & 0x1F], &nal[1..]),
                VideoCodec::H265 => (
                    vec![(nal[0] & 0x81) | (49 << 1), nal[1], (nal[0] >> 1) & 0x3F],
                    &nal[2..],
                ),
            };
            let fu_header = prefix.len() - 1;
            let chunk = MAX_PAYLOAD - prefix.len();
            let count = body.len().div_ceil(chunk);
            for (k, part) in body.chunks(chunk).enumerate() {
                let mut p = Vec::with_capacity(12 + prefix.len() + part.len());
                let end = k + 1 == count;
                self.header(last_nal && end, timestamp, &mut p);
                let mut pre = prefix.clone();
                if k == 0 {
                    pre[fu_header] |= 0x80;
                }
                if end {
                    pre[fu_header] |= 0x40;
                }
                p.extend_from_slice(&pre);
                p.extend_from_slice(part);
                packets.push(p);
            }
        }
        packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_nals_go_whole_with_marker_on_the_last() {
        let mut st = RtpState {
            ssrc: 7,
            seq: 65535,
        };
        let p = st.packetize(VideoCodec::H264, &[&[0x67, 1], &[0x68, 2]], 90000);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0][1], PAYLOAD_TYPE);
        assert_eq!(p[1][1], PAYLOAD_TYPE | 0x80);
        assert_eq!(&p[0][2..4], &[0xFF, 0xFF]);
        assert_eq!(&p[1][2..4], &[0, 0]);
        assert_eq!(&p[1][12..], &[0x68, 2]);
    }

    #[test]
    fn h264_fu_a_reassembles() {
        let mut nal = vec![0x65];
        nal.extend((0..5000u32).map(|i| (i % 251) as u8));
        let mut st = RtpState { ssrc: 1, seq: 0 };
        let p = st.packetize(VideoCodec::H264, &[&nal], 0);
        assert!(p.len() >= 4);
        assert_eq!(p[0][12], 0x60 | 28);
        assert_eq!(p[0][13], 0x80 | 5);
        assert_eq!(p.last().unwrap()[13], 0x40 | 5);
        let mut back = vec![(p[0][12] & 0xE0) | (p[0][13] & 0x1F)];
        for q in &p {
            assert!(q.len() <= 12 + MAX_PAYLOAD);
            back.extend_from_slice(&q[14..]);
        }
        assert_eq!(back, nal);
    }

    #[test]
    fn h265_fu_reassembles() {
        let mut nal = vec![19 << 1, 1];
        nal.extend((0..3000u32).map(|i| (i % 13) as u8));
        let mut st = RtpState { ssrc: 1, seq: 0 };
        let p = st.packetize(VideoCodec::H265, &[&nal], 0);
        assert_eq!((p[0][12] >> 1) & 0x3F, 49);
        assert_eq!(p[0][14], 0x80 | 19);
        let mut back = vec![19 << 1, 1];
        for q in &p {
            back.extend_from_slice(&q[15..]);
        }
        assert_eq!(back, nal);
    }
}
