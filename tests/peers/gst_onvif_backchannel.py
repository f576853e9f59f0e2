#!/usr/bin/python3
# GStreamer's ONVIF RTSP server (RTSPOnvifServer, RTSPOnvifMediaFactory) as an independent
# talk peer: /talk offers a G.711 sound and a backchannel that accepts CODEC (pcmu or pcma)
# and writes the received G.711 bytes, depayloaded, to OUT. RTSP Digest auth (talker/gst-talk).
# Usage: gst_onvif_backchannel.py CODEC OUT. Prints the bound port, then runs until killed.
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

codec, out = sys.argv[1], sys.argv[2]
PT, NAME, DEPAY, ENC, PAY = {
    "pcmu": (0, "PCMU", "rtppcmudepay", "mulawenc", "rtppcmupay"),
    "pcma": (8, "PCMA", "rtppcmadepay", "alawenc", "rtppcmapay"),
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
    f'( capsfilter caps="application/x-rtp, media=audio, payload={PT}, clock-rate=8000, '
    f'encoding-name={NAME}" name=depay_backchannel ! {DEPAY} '
    f"! filesink location={out} buffer-mode=unbuffered sync=false async=false )"
)
factory.set_shared(False)
factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
factory.set_permissions(perms)
server.get_mount_points().add_factory("/talk", factory)

server.attach(None)
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
