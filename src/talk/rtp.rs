//! RTP for the backchannel: what the camera's offered track takes ([`Offered`]: the codec, its
//! payload type, clock rate, channels and, for AAC, the AU header sizes of its `a=fmtp`), and
//! the [`Packetizer`] that turns 20 ms frames at [`pcm::RATE`] into RTP packets for it. G.711
//! is one packet per frame; AAC (RFC 3640 `mpeg4-generic`, AAC-hbr or AAC-lbr) is resampled to
//! the track's rate, encoded by FFmpeg's AAC-LC encoder and sent one access unit per packet
//! behind its AU header. Pure but for the encoder; no sockets.

use super::TalkCodec;
use crate::media::encode::AacEncoder;
use crate::media::pcm;

/// One encoding the camera's `sendonly` track offers that we can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    pub codec: TalkCodec,
    pub pt: u8,
    /// RTP clock rate = sample rate.
    pub rate: u32,
    pub channels: u16,
    /// AAC: bits of the AU-size and AU-index fields of each AU header (RFC 3640 3.3.6:
    /// AAC-hbr 13 and 3, AAC-lbr 6 and 2). 0 for G.711.
    pub size_length: u8,
    pub index_length: u8,
}

impl Offered {
    /// G.711 at 8 kHz mono on `pt`.
    pub fn g711(codec: TalkCodec, pt: u8) -> Self {
        Self {
            codec,
            pt,
            rate: pcm::RATE,
            channels: 1,
            size_length: 0,
            index_length: 0,
        }
    }

    /// What an SDP format says: `encoding` is the rtpmap's `NAME/RATE[/CHANNELS]` (absent for
    /// a static payload type), `fmtp` the format's parameters. `None` for what we cannot send.
    pub fn parse(pt: u8, encoding: Option<&str>, fmtp: Option<&str>) -> Option<Self> {
        let mut parts = encoding.map(|e| e.split('/'));
        let name = match (parts.as_mut().and_then(|p| p.next()), pt) {
            (Some(n), _) => n.to_owned(),
            (None, 0) => "PCMU".into(),
            (None, 8) => "PCMA".into(),
            (None, _) => return None,
        };
        let rate = parts.as_mut().and_then(|p| p.next()).map(str::parse::<u32>);
        let channels = parts.as_mut().and_then(|p| p.next()).map(str::parse::<u16>);
        let channels = match channels {
            None => 1,
            Some(Ok(c @ 1..=2)) => c,
            Some(_) => return None,
        };
        match TalkCodec::from_name(&name)? {
            c @ (TalkCodec::Pcmu | TalkCodec::Pcma) => {
                let rate_ok = rate.is_none() || rate == Some(Ok(pcm::RATE));
                (rate_ok && channels == 1).then(|| Self::g711(c, pt))
            }
            TalkCodec::Aac => {
                let rate = rate?.ok().filter(|r| (8000..=48_000).contains(r))?;
                let param = |key: &str| {
                    fmtp?.split(';').find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
                    })
                };
                if !param("mode")?.to_ascii_lowercase().starts_with("aac") {
                    return None;
                }
                let size_length = param("sizelength")?.parse::<u8>().ok()?;
                let index_length = param("indexlength").map_or(Some(0), |v| v.parse().ok())?;
                if !(1..=16).contains(&size_length) || index_length > 8 {
                    return None;
                }
                Some(Self {
                    codec: TalkCodec::Aac,
                    pt,
                    rate,
                    channels,
                    size_length,
                    index_length,
                })
            }
        }
    }

    /// How it reads in messages: `PCMU`, `AAC 16 kHz`.
    pub fn describe(&self) -> String {
        match self.codec {
            TalkCodec::Aac => format!("AAC {} kHz", f64::from(self.rate) / 1000.0),
            c => c.as_str().to_owned(),
        }
    }
}

/// The AU-headers section of an RFC 3640 packet carrying one access unit of `size` bytes:
/// the section's length in bits (16 bits), then the AU header (size, index 0), padded to a
/// byte. `None` if `size` does not fit `size_length` bits.
pub fn au_headers(size: usize, size_length: u8, index_length: u8) -> Option<Vec<u8>> {
    if size >= 1 << size_length {
        return None;
    }
    let bits = u32::from(size_length) + u32::from(index_length);
    let header = (size as u32) << index_length;
    let mut out = (bits as u16).to_be_bytes().to_vec();
    let bytes = bits.div_ceil(8);
    let aligned = header << (bytes * 8 - bits);
    out.extend_from_slice(&aligned.to_be_bytes()[4 - bytes as usize..]);
    Some(out)
}

enum Encoder {
    G711(fn(i16) -> u8),
    Aac(Box<AacPath>),
}

/// 8 kHz → the track's rate → AAC access units.
struct AacPath {
    resample: pcm::Resample,
    encoder: AacEncoder,
    resampled: Vec<f32>,
}

/// 20 ms frames at [`pcm::RATE`] in, RTP packets (header and payload) out.
pub struct Packetizer {
    offered: Offered,
    encoder: Encoder,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    sent: u64,
}

impl Packetizer {
    pub fn new(offered: Offered) -> Result<Self, String> {
        let encoder = match offered.codec {
            TalkCodec::Aac => Encoder::Aac(Box::new(AacPath {
                resample: pcm::Resample::new(pcm::RATE, offered.rate)?,
                encoder: AacEncoder::new(offered.rate, offered.channels)?,
                resampled: Vec::new(),
            })),
            c => Encoder::G711(c.g711().ok_or("not G.711")?),
        };
        Ok(Self {
            offered,
            encoder,
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
            sent: 0,
        })
    }

    pub fn offered(&self) -> &Offered {
        &self.offered
    }

    /// The packets `frame` completes (G.711: one; AAC: one per 1024 samples encoded).
    pub fn push(&mut self, frame: &[f32]) -> Result<Vec<Vec<u8>>, String> {
        let payloads: Vec<(Vec<u8>, u32)> = match &mut self.encoder {
            Encoder::G711(law) => {
                vec![(pcm::to_i16(frame).map(*law).collect(), frame.len() as u32)]
            }
            Encoder::Aac(aac) => {
                let AacPath {
                    resample,
                    encoder,
                    resampled,
                } = &mut **aac;
                resampled.clear();
                resample.push(frame, resampled)?;
                let planes = vec![&resampled[..]; usize::from(self.offered.channels)];
                let step = encoder.frame_size() as u32;
                let (size_length, index_length) =
                    (self.offered.size_length, self.offered.index_length);
                encoder
                    .encode(&planes)?
                    .into_iter()
                    .map(|au| {
                        let mut p = au_headers(au.len(), size_length, index_length)
                            .ok_or_else(|| format!("an AAC frame of {} bytes", au.len()))?;
                        p.extend_from_slice(&au);
                        Ok((p, step))
                    })
                    .collect::<Result<_, String>>()?
            }
        };
        Ok(payloads
            .into_iter()
            .map(|(payload, step)| self.packet(&payload, step))
            .collect())
    }

    /// The packets that finish what was pushed: the AAC encoder holds about two access units
    /// back (its delay and lookahead), so silence is pushed through until they are out.
    /// Nothing for G.711.
    pub fn flush(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let Encoder::Aac(aac) = &self.encoder else {
            return Ok(Vec::new());
        };
        let held = 3 * aac.encoder.frame_size() as u64 * u64::from(pcm::RATE);
        let frames = held.div_ceil(u64::from(self.offered.rate) * pcm::FRAME as u64) + 1;
        let silence = [0.0f32; pcm::FRAME];
        let mut out = Vec::new();
        for _ in 0..frames {
            out.extend(self.push(&silence)?);
        }
        Ok(out)
    }

    /// RTP header + payload. The marker is set on the first G.711 packet (the start of a
    /// talkspurt, RFC 3551 4.1) and on every AAC packet (each carries a whole AU, RFC 3640).
    fn packet(&mut self, payload: &[u8], step: u32) -> Vec<u8> {
        let marker = match self.offered.codec {
            TalkCodec::Aac => true,
            _ => self.sent == 0,
        };
        self.sent += 1;
        let mut out = Vec::with_capacity(12 + payload.len());
        out.push(0x80);
        out.push(self.offered.pt | if marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(step);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_formats_we_can_send() {
        let hbr = "streamtype=5;profile-level-id=15;mode=AAC-hbr;config=1408;sizelength=13;\
                   indexlength=3;indexdeltalength=3";
        let aac = Offered::parse(96, Some("MPEG4-GENERIC/16000/1"), Some(hbr)).unwrap();
        assert_eq!(
            (
                aac.codec,
                aac.rate,
                aac.channels,
                aac.size_length,
                aac.index_length
            ),
            (TalkCodec::Aac, 16_000, 1, 13, 3)
        );
        assert_eq!(aac.describe(), "AAC 16 kHz");
        let lbr = "mode=AAC-lbr; sizelength=6; indexlength=2";
        let aac = Offered::parse(97, Some("mpeg4-generic/8000/2"), Some(lbr)).unwrap();
        assert_eq!((aac.channels, aac.size_length, aac.index_length), (2, 6, 2));
        assert_eq!(
            Offered::parse(0, None, None),
            Some(Offered::g711(TalkCodec::Pcmu, 0))
        );
        assert_eq!(
            Offered::parse(8, Some("PCMA/8000"), None),
            Some(Offered::g711(TalkCodec::Pcma, 8))
        );
        for (pt, enc, fmtp) in [
            (0, Some("PCMU/16000"), None),
            (96, Some("PCMU/8000/2"), None),
            (96, None, None),
            (96, Some("MPEG4-GENERIC/16000/1"), None),
            (
                96,
                Some("MPEG4-GENERIC/16000/1"),
                Some("mode=CELP-cbr;sizelength=13"),
            ),
            (96, Some("MPEG4-GENERIC/16000/1"), Some("mode=AAC-hbr")),
            (96, Some("MPEG4-GENERIC/96000/1"), Some(hbr)),
            (96, Some("MPEG4-GENERIC/16000/6"), Some(hbr)),
            (96, Some("G726-32/8000"), None),
        ] {
            assert_eq!(Offered::parse(pt, enc, fmtp), None, "{enc:?} {fmtp:?}");
        }
    }

    #[test]
    fn au_headers_follow_rfc_3640() {
        // AAC-hbr: 16 bits of headers, 13 bits of size then 3 of index.
        assert_eq!(au_headers(300, 13, 3), Some(vec![0x00, 0x10, 0x09, 0x60]));
        // AAC-lbr: 8 bits, 6 + 2.
        assert_eq!(au_headers(40, 6, 2), Some(vec![0x00, 0x08, 40 << 2]));
        // Sizes that do not fit are refused, never truncated.
        assert_eq!(au_headers(64, 6, 2), None);
        assert_eq!(au_headers(1 << 13, 13, 3), None);
        // Odd widths pad to a byte.
        assert_eq!(au_headers(1, 5, 0), Some(vec![0x00, 0x05, 0b0000_1000]));
    }

    #[test]
    fn aac_packets_carry_one_access_unit_each_at_the_tracks_clock() {
        let offered = Offered::parse(
            96,
            Some("MPEG4-GENERIC/16000/1"),
            Some("mode=AAC-hbr;sizelength=13;indexlength=3;config=1408"),
        )
        .unwrap();
        let mut p = Packetizer::new(offered).unwrap();
        let tone = pcm::tone(1000.0, pcm::RATE, 1.0, 0.4);
        let packets: Vec<Vec<u8>> = tone
            .samples
            .chunks(pcm::FRAME)
            .flat_map(|f| p.push(f).unwrap())
            .collect();
        // 1 s at 16 kHz is 15.6 AAC frames; the encoder holds a frame or two back, which
        // the flush lets out.
        assert!((12..=16).contains(&packets.len()), "{}", packets.len());
        let flushed = p.flush().unwrap();
        assert!((3..=5).contains(&flushed.len()), "{}", flushed.len());
        let packets = [packets, flushed].concat();
        let ts = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        for pair in packets.windows(2) {
            assert_eq!(ts(&pair[1]).wrapping_sub(ts(&pair[0])), 1024);
        }
        for packet in &packets {
            assert_eq!(packet[1], 0x80 | 96, "marker and payload type");
            assert_eq!(&packet[12..14], &[0x00, 0x10]);
            let size = usize::from(u16::from_be_bytes([packet[14], packet[15]]) >> 3);
            assert_eq!(size, packet.len() - 16, "the AU header gives the AU's size");
        }
    }

    #[test]
    fn g711_packets_are_one_frame_each_marked_at_the_start() {
        let mut p = Packetizer::new(Offered::g711(TalkCodec::Pcma, 8)).unwrap();
        let frame = vec![0.25f32; pcm::FRAME];
        let a = p.push(&frame).unwrap();
        let b = p.push(&frame).unwrap();
        assert_eq!((a.len(), b.len()), (1, 1));
        assert_eq!(a[0].len(), 12 + pcm::FRAME);
        assert_eq!((a[0][1], b[0][1]), (0x80 | 8, 8));
        let seq = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
        assert_eq!(seq(&b[0]), seq(&a[0]).wrapping_add(1));
    }
}
