//! The simulated camera's ear: the receiving end of an ONVIF backchannel. RTP packets the
//! client sends on the backchannel's interleaved channel are decoded (G.711 µ-law or A-law,
//! by payload type), their level is logged once a second, and when the session ends the whole
//! message goes to `talk_out/camN-K.wav` (when set) and a summary line to the log. One talk
//! session per camera at a time, as many cameras allow.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::media::g711;

/// The backchannel's section of the SDP: PCMU and PCMA at 8 kHz, the client sends.
pub(super) fn backchannel_sdp() -> &'static str {
    "m=audio 0 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
     a=control:trackID=2\r\na=sendonly\r\n"
}

/// One talk session being received.
pub(super) struct TalkIn {
    shared: Arc<Shared>,
    camera: usize,
    pub(super) channel: u8,
    samples: Vec<i16>,
    payload_type: Option<u8>,
    logged_at: usize,
    bad: u64,
}

impl TalkIn {
    /// Claims `camera`'s talk; `None` when another session is talking to it.
    pub(super) fn claim(shared: &Arc<Shared>, camera: usize, channel: u8) -> Option<Self> {
        let mut busy = shared.talking.lock().expect("talking lock");
        if !busy.insert(camera) {
            return None;
        }
        Some(Self {
            shared: shared.clone(),
            camera,
            channel,
            samples: Vec::new(),
            payload_type: None,
            logged_at: 0,
            bad: 0,
        })
    }

    fn name(&self) -> String {
        self.shared
            .config
            .names
            .get(self.camera)
            .cloned()
            .unwrap_or_else(|| format!("Sim {}", self.camera + 1))
    }

    /// One RTP packet from the client.
    pub(super) fn packet(&mut self, rtp: &[u8]) {
        let Some((pt, payload)) = rtp_payload(rtp) else {
            self.bad += 1;
            return;
        };
        let decode = match pt {
            0 => g711::ulaw_decode,
            8 => g711::alaw_decode,
            _ => {
                self.bad += 1;
                return;
            }
        };
        self.payload_type.get_or_insert(pt);
        self.samples.extend(payload.iter().map(|&c| decode(c)));
        if self.samples.len() - self.logged_at >= 8000 {
            let level = level(&self.samples[self.logged_at..]);
            tracing::info!("{}: hearing talk, level {level:.1} dBFS", self.name());
            self.logged_at = self.samples.len();
        }
    }
}

/// The payload type and payload of an RTP packet (RFC 3550: CSRCs, extension, padding).
pub(crate) fn rtp_payload(p: &[u8]) -> Option<(u8, &[u8])> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let mut start = 12 + 4 * usize::from(p[0] & 0x0F);
    if p[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*p.get(start + 2)?, *p.get(start + 3)?]);
        start += 4 + 4 * usize::from(words);
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*p.last()?))?;
    }
    (start <= end).then(|| (p[1] & 0x7F, &p[start..end]))
}

fn level(samples: &[i16]) -> f32 {
    let f: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    crate::media::pcm::level_dbfs(&f)
}

impl Drop for TalkIn {
    fn drop(&mut self) {
        self.shared
            .talking
            .lock()
            .expect("talking lock")
            .remove(&self.camera);
        let secs = self.samples.len() as f64 / 8000.0;
        let codec = match self.payload_type {
            Some(0) => "PCMU",
            Some(8) => "PCMA",
            _ => "nothing",
        };
        let mut written = None;
        if let Some(dir) = &self.shared.config.talk_out {
            let k = self.shared.talk_count.fetch_add(1, Ordering::Relaxed) + 1;
            let path = dir.join(format!("cam{}-{k}.wav", self.camera + 1));
            match write_wav(&path, &self.samples) {
                Ok(()) => written = Some(path),
                Err(e) => tracing::warn!("{}: cannot write {}: {e}", self.name(), path.display()),
            }
        }
        tracing::info!(
            "{}: talk ended: {secs:.2} s of {codec}, level {:.1} dBFS, {} bad packets{}",
            self.name(),
            level(&self.samples),
            self.bad,
            written.map_or(String::new(), |p| format!(", written to {}", p.display()))
        );
    }
}

fn write_wav(path: &PathBuf, samples: &[i16]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // Written whole to a temporary name, then renamed: a reader never sees half a file.
    let tmp = path.with_extension("wav.part");
    let mut w = hound::WavWriter::create(&tmp, spec).map_err(|e| e.to_string())?;
    for &s in samples {
        w.write_sample(s).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_payloads_are_found_behind_csrcs_extensions_and_padding() {
        let mut p = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xAA, 0xBB];
        assert_eq!(rtp_payload(&p), Some((0, &[0xAA, 0xBB][..])));
        p[1] = 0x88; // marker + PT 8
        assert_eq!(rtp_payload(&p).unwrap().0, 8);
        // One CSRC, an extension of one word, two bytes of padding.
        let q = [
            0xB1, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9, 0xBE, 0xDE, 0, 1, 7, 7, 7, 7,
            0x11, 0x22, 0x00, 0x02,
        ];
        assert_eq!(rtp_payload(&q), Some((0, &[0x11, 0x22][..])));
        assert_eq!(rtp_payload(&[0x80, 0]), None);
        assert_eq!(rtp_payload(&[0x40; 12]), None);
        let mut pad = p.clone();
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 200;
        assert_eq!(rtp_payload(&pad), None);
    }
}
