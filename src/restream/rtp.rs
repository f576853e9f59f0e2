//! RTP packetization of H.264 (RFC 6184) and H.265 (RFC 7798) access units, of AAC frames
//! (RFC 3640, AAC-hbr) and G.711 samples (RFC 3551), and the RTCP a sender owes its receivers
//! (RFC 3550: sender reports with an SDES CNAME, BYE). Pure: media in, packets out.

use crate::media::VideoCodec;

/// Largest RTP payload; keeps UDP datagrams under a 1500-byte MTU.
pub const MAX_PAYLOAD: usize = 1400;
pub const PAYLOAD_TYPE: u8 = 96;
/// The audio track's payload type (dynamic, `MPEG4-GENERIC`).
pub const AUDIO_PAYLOAD_TYPE: u8 = 97;

/// Numbering state of one outgoing RTP stream, and what it sent (for its sender reports).
#[derive(Debug, Clone)]
pub struct RtpState {
    pub ssrc: u32,
    pub seq: u16,
    /// Packets and payload octets sent, modulo 2³² (RFC 3550 §6.4.1).
    pub packets: u32,
    pub octets: u32,
}

impl RtpState {
    /// A stream with random SSRC and first sequence number (RFC 3550 §5.1).
    pub fn random() -> Self {
        Self::new(rand::random(), rand::random())
    }

    pub fn new(ssrc: u32, seq: u16) -> Self {
        Self {
            ssrc,
            seq,
            packets: 0,
            octets: 0,
        }
    }

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
        self.packets = self.packets.wrapping_add(1);
    }

    /// Counts a finished packet's payload (everything after the 12-byte header).
    fn sent(&mut self, packet: &[u8]) {
        self.octets = self
            .octets
            .wrapping_add(packet.len().saturating_sub(12) as u32);
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
        self.sent(&out);
        out
    }

    /// G.711 samples (payload type 0 µ-law or 8 A-law, one byte per sample at 8 kHz or the
    /// track's rate) in packets of at most [`MAX_PAYLOAD`] samples, timed from `timestamp`.
    pub fn g711(&mut self, pt: u8, samples: &[u8], timestamp: u32) -> Vec<Vec<u8>> {
        samples
            .chunks(MAX_PAYLOAD)
            .enumerate()
            .map(|(k, part)| {
                let mut out = Vec::with_capacity(12 + part.len());
                let ts = timestamp.wrapping_add((k * MAX_PAYLOAD) as u32);
                self.header_pt(pt, k == 0, ts, &mut out);
                out.extend_from_slice(part);
                self.sent(&out);
                out
            })
            .collect()
    }

    /// An RTCP compound packet: a sender report (no reception blocks: we receive nothing)
    /// saying that RTP time `rtp_ts` is NTP time `ntp`, then an SDES with our CNAME.
    pub fn sender_report(&self, ntp: u64, rtp_ts: u32, cname: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0x80, 200, 0, 6]);
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&ntp.to_be_bytes());
        out.extend_from_slice(&rtp_ts.to_be_bytes());
        out.extend_from_slice(&self.packets.to_be_bytes());
        out.extend_from_slice(&self.octets.to_be_bytes());
        // SDES, one chunk: SSRC, CNAME item, end of list, padded to 32 bits.
        let name = &cname.as_bytes()[..cname.len().min(255)];
        let mut chunk = self.ssrc.to_be_bytes().to_vec();
        chunk.extend_from_slice(&[1, name.len() as u8]);
        chunk.extend_from_slice(name);
        chunk.push(0);
        while !chunk.len().is_multiple_of(4) {
            chunk.push(0);
        }
        let words = (chunk.len() / 4) as u16;
        out.extend_from_slice(&[0x81, 202]);
        out.extend_from_slice(&words.to_be_bytes());
        out.extend_from_slice(&chunk);
        out
    }

    /// An RTCP BYE for this stream (RFC 3550 §6.6): it ends, the receiver may close.
    pub fn bye(&self) -> Vec<u8> {
        let mut out = vec![0x81, 203, 0, 1];
        out.extend_from_slice(&self.ssrc.to_be_bytes());
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
                self.sent(&p);
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
                self.sent(&p);
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
        let mut st = RtpState::new(7, 65535);
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
        let mut st = RtpState::new(1, 0);
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
        let mut st = RtpState::new(1, 0);
        let p = st.packetize(VideoCodec::H265, &[&nal], 0);
        assert_eq!((p[0][12] >> 1) & 0x3F, 49);
        assert_eq!(p[0][14], 0x80 | 19);
        let mut back = vec![19 << 1, 1];
        for q in &p {
            back.extend_from_slice(&q[15..]);
        }
        assert_eq!(back, nal);
    }

    #[test]
    fn sender_reports_and_byes_parse_as_rtcp() {
        let mut st = RtpState::new(0xABCD, 0);
        st.packetize(VideoCodec::H264, &[&[0x65; 100]], 0);
        let sr = st.sender_report(0x1122_3344_5566_7788, 9000, "opticlink");
        let (pkt, rest) = retina::rtcp::PacketRef::parse(&sr).unwrap();
        let report = pkt.as_sender_report().unwrap().unwrap();
        assert_eq!(report.ssrc(), 0xABCD);
        assert_eq!(report.ntp_timestamp().0, 0x1122_3344_5566_7788);
        assert_eq!(report.rtp_timestamp(), 9000);
        assert_eq!(
            &sr[20..28],
            &[0, 0, 0, 1, 0, 0, 0, 100],
            "1 packet, 100 octets"
        );
        let (sdes, rest) = retina::rtcp::PacketRef::parse(rest).unwrap();
        assert_eq!(sdes.payload_type(), 202);
        assert!(rest.is_empty());
        let bye = st.bye();
        let (pkt, _) = retina::rtcp::PacketRef::parse(&bye).unwrap();
        assert_eq!(pkt.payload_type(), 203);
    }

    #[test]
    fn g711_splits_long_frames_and_advances_time() {
        let mut st = RtpState::new(1, 0);
        let p = st.g711(8, &[0x55; 3000], 100);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0][1], 0x80 | 8, "marker on the first");
        assert_eq!(p[1][1], 8);
        assert_eq!(
            u32::from_be_bytes(p[2][4..8].try_into().unwrap()),
            100 + 2800
        );
        assert_eq!(p[2].len(), 12 + 200);
    }
}
