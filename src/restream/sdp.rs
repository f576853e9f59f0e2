//! Session descriptions (RFC 4566) of what we serve over RTSP: the video track with its
//! parameter sets (RFC 6184 / RFC 7798 `sprop-*`) and an audio track (AAC-hbr, RFC 3640, or
//! G.711 with its static payload type).

use std::net::SocketAddr;

use base64::Engine;

use crate::media::nal::nal_type;
use crate::media::{AudioCodec, AudioTrack, VideoCodec};

/// The session and its video track (`trackID=0`): `name` is the session's `s=` line, `fps`
/// is announced when known.
pub fn sdp(
    name: &str,
    codec: VideoCodec,
    sets: &[Vec<u8>],
    fps: Option<u32>,
    local: Option<SocketAddr>,
) -> String {
    let b64 = |nal: &[u8]| base64::engine::general_purpose::STANDARD.encode(nal);
    let ip = local.map_or_else(|| "127.0.0.1".to_owned(), |a| a.ip().to_string());
    let (rtpmap, fmtp) = match codec {
        VideoCodec::H264 => {
            let sps = sets.iter().find(|n| nal_type(codec, n) == Some(7));
            let profile = sps.filter(|s| s.len() >= 4).map_or_else(
                || "42e01f".to_owned(),
                |s| format!("{:02x}{:02x}{:02x}", s[1], s[2], s[3]),
            );
            let sprop: Vec<String> = sets.iter().map(|n| b64(n)).collect();
            (
                "H264/90000",
                format!(
                    "packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={}",
                    sprop.join(",")
                ),
            )
        }
        VideoCodec::H265 => {
            let of = |t: u8| {
                sets.iter()
                    .find(|n| nal_type(codec, n) == Some(t))
                    .map(|n| b64(n))
                    .unwrap_or_default()
            };
            (
                "H265/90000",
                format!(
                    "sprop-vps={};sprop-sps={};sprop-pps={}",
                    of(32),
                    of(33),
                    of(34)
                ),
            )
        }
    };
    let family = if local.is_some_and(|a| a.is_ipv6()) {
        "IP6"
    } else {
        "IP4"
    };
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let framerate = fps.map_or_else(String::new, |f| format!("a=framerate:{f}\r\n"));
    format!(
        "v=0\r\no=- {id} 1 IN {family} {ip}\r\ns={name}\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         a=control:*\r\na=range:npt=0-\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 {rtpmap}\r\n\
         a=fmtp:96 {fmtp}\r\n{framerate}a=control:trackID=0\r\n",
        id = rand::random::<u32>()
    )
}

/// The payload type of an audio track: G.711's static ones (RFC 3551) at 8 kHz mono, the
/// dynamic [`super::rtp::AUDIO_PAYLOAD_TYPE`] otherwise.
pub fn audio_payload_type(track: &AudioTrack) -> u8 {
    let standard = track.sample_rate == 8000 && track.channels == 1;
    match track.codec {
        AudioCodec::Pcmu if standard => 0,
        AudioCodec::Pcma if standard => 8,
        _ => super::rtp::AUDIO_PAYLOAD_TYPE,
    }
}

/// The SDP media section of an audio track (`trackID=1`): AAC-hbr (RFC 3640), one frame per
/// packet, or G.711.
pub fn audio_sdp(track: &AudioTrack) -> String {
    let pt = audio_payload_type(track);
    let (rate, ch) = (track.sample_rate, track.channels.max(1));
    let format = match track.codec {
        AudioCodec::Aac => {
            let config: String = track.extradata.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "a=rtpmap:{pt} MPEG4-GENERIC/{rate}/{ch}\r\n\
                 a=fmtp:{pt} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;\
                 indexlength=3;indexdeltalength=3;config={config}\r\n"
            )
        }
        AudioCodec::Pcmu => format!("a=rtpmap:{pt} PCMU/{rate}/{ch}\r\n"),
        AudioCodec::Pcma => format!("a=rtpmap:{pt} PCMA/{rate}/{ch}\r\n"),
    };
    format!("m=audio 0 RTP/AVP {pt}\r\n{format}a=control:trackID=1\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_carries_sprop_parameter_sets() {
        let sets = vec![vec![0x67, 0x64, 0x00, 0x1f, 1], vec![0x68, 2]];
        let s = sdp("cam", VideoCodec::H264, &sets, Some(25), None);
        assert!(s.contains("profile-level-id=64001f"), "{s}");
        assert!(s.contains("sprop-parameter-sets=Z2QAHwE=,aAI="), "{s}");
        assert!(s.contains("a=framerate:25\r\n"), "{s}");
        let s = sdp("a\r\nb=x", VideoCodec::H264, &sets, None, None);
        assert!(s.contains("s=ab=x\r\n") && !s.contains("framerate"), "{s}");
    }

    #[test]
    fn audio_tracks_keep_their_codec() {
        let track = |codec, sample_rate, extradata: &[u8]| AudioTrack {
            codec,
            sample_rate,
            channels: 1,
            extradata: extradata.to_vec(),
        };
        let aac = audio_sdp(&track(AudioCodec::Aac, 16000, &[0x14, 0x08]));
        assert!(aac.contains("m=audio 0 RTP/AVP 97"), "{aac}");
        assert!(aac.contains("MPEG4-GENERIC/16000/1") && aac.contains("config=1408"));
        let pcma = audio_sdp(&track(AudioCodec::Pcma, 8000, &[]));
        assert!(
            pcma.contains("m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000/1"),
            "{pcma}"
        );
        let wide = audio_sdp(&track(AudioCodec::Pcmu, 16000, &[]));
        assert!(wide.contains("a=rtpmap:97 PCMU/16000/1"), "{wide}");
    }
}
