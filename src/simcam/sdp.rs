//! The simulated camera's session descriptions (RFC 4566): the video track with its parameter
//! sets (RFC 6184 / RFC 7798 `sprop-*`) and, with sound, an AAC-hbr track (RFC 3640).

use std::net::SocketAddr;

use base64::Engine;

use crate::media::VideoCodec;
use crate::media::nal::nal_type;

pub(super) fn sdp(
    codec: VideoCodec,
    sets: &[Vec<u8>],
    fps: u32,
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
    format!(
        "v=0\r\no=- {id} 1 IN IP4 {ip}\r\ns=OpticLink simulated camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         a=control:*\r\na=range:npt=0-\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 {rtpmap}\r\n\
         a=fmtp:96 {fmtp}\r\na=framerate:{fps}\r\na=control:trackID=0\r\n",
        id = rand::random::<u32>()
    )
}

/// The SDP media section of the sound: AAC-hbr (RFC 3640), one frame per packet.
pub(super) fn audio_sdp(asc: &[u8]) -> String {
    let config: String = asc.iter().map(|b| format!("{b:02x}")).collect();
    let rate = super::sound::RATE;
    let pt = super::rtp::AUDIO_PAYLOAD_TYPE;
    format!(
        "m=audio 0 RTP/AVP {pt}\r\na=rtpmap:{pt} MPEG4-GENERIC/{rate}/1\r\n\
         a=fmtp:{pt} streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;\
         indexdeltalength=3;config={config}\r\na=control:trackID=1\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_carries_sprop_parameter_sets() {
        let sets = vec![vec![0x67, 0x64, 0x00, 0x1f, 1], vec![0x68, 2]];
        let s = sdp(VideoCodec::H264, &sets, 25, None);
        assert!(s.contains("profile-level-id=64001f"), "{s}");
        assert!(s.contains("sprop-parameter-sets=Z2QAHwE=,aAI="), "{s}");
    }
}
