#!/usr/bin/python3
# GStreamer's ONVIF RTSP server (RTSPOnvifServer, RTSPOnvifMediaFactory) as an independent
# talk peer: /talk offers a G.711 sound and a backchannel that accepts CODEC (pcmu, pcma, or
# aac: AAC-LC 16 kHz mono as RFC 3640 AAC-hbr) and writes what it receives to OUT: the G.711
# bytes, depayloaded, or for AAC the decoded sound as 8 kHz mono S16LE. RTSP Digest auth
# (talker/gst-talk).
# Usage: gst_onvif_backchannel.py CODEC OUT. Prints the bound port, then runs until killed.
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

codec, out = sys.argv[1], sys.argv[2]
ENC, PAY = {"pcma": ("alawenc", "rtppcmapay")}.get(codec, ("mulawenc", "rtppcmupay"))
BACK_CAPS, BACK_CHAIN = {
    "pcmu": ("payload=0, clock-rate=8000, encoding-name=PCMU", "rtppcmudepay"),
    "pcma": ("payload=8, clock-rate=8000, encoding-name=PCMA", "rtppcmadepay"),
    "aac": (
        "payload=96, clock-rate=16000, encoding-name=MPEG4-GENERIC, "
        "encoding-params=(string)1, streamtype=(string)5, profile-level-id=(string)15, "
        "mode=(string)AAC-hbr, config=(string)1408, sizelength=(string)13, "
        "indexlength=(string)3, indexdeltalength=(string)3",
        "rtpmp4gdepay ! avdec_aac ! audioconvert ! audioresample "
        "! audio/x-raw,format=S16LE,rate=8000,channels=1",
    ),
}[codec]

Gst.init(None)
server = GstRtspServer.RTSPOnvifServer.new()
server.set_address("127.0.0.1")
server.set_service("0")

auth = GstRtspServer.RTSPAuth()
auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
token = GstRtspServer.RTSPToken()
token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
auth.add_digest("talker", "gst-talk", token)
server.set_auth(auth)
perms = GstRtspServer.RTSPPermissions()
perms.add_role_from_structure(
    Gst.Structure.new_from_string(
        "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    )
)

factory = GstRtspServer.RTSPOnvifMediaFactory.new()
# The camera's own sound. A talk client sets up only the backchannel, so this stream is never
# linked: the tee (allow-not-linked) keeps audiotestsrc from failing with not-linked, which
# would put the whole media, backchannel included, into its error state.
factory.set_launch(
    "( audiotestsrc is-live=true ! audioconvert ! audioresample "
    f"! audio/x-raw,format=S16LE,rate=8000,channels=1 ! {ENC} ! tee allow-not-linked=true "
    f"! {PAY} name=pay0 )"
)
factory.set_backchannel_launch(
    f'( capsfilter caps="application/x-rtp, media=audio, {BACK_CAPS}" name=depay_backchannel '
    f"! {BACK_CHAIN} ! filesink location={out} buffer-mode=unbuffered sync=false async=false )"
)
factory.set_shared(False)
factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
factory.set_permissions(perms)
server.get_mount_points().add_factory("/talk", factory)

server.attach(None)
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
