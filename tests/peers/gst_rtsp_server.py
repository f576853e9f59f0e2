#!/usr/bin/python3
# GStreamer's rtsp-server as an independent RTSP peer for interop tests.
# Serves /h264 and /h265 (videotestsrc, 640x360@25), /h264aac and /h264pcma (with AAC or G.711
# audio) with RTSP Basic auth (viewer/gst-pass).
# Prints the bound port on the first line of stdout, then runs until killed.
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1] if len(sys.argv) > 1 else "0")

auth = GstRtspServer.RTSPAuth()
token = GstRtspServer.RTSPToken()
token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
auth.add_basic(GstRtspServer.RTSPAuth.make_basic("viewer", "gst-pass"), token)
server.set_auth(auth)

perms = GstRtspServer.RTSPPermissions()
perms.add_role_from_structure(
    Gst.Structure.new_from_string(
        "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    )
)

SOURCE = "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=25/1"
H264 = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph264pay name=pay0 pt=96 config-interval=1"
AUDIO = "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! audio/x-raw,rate={rate},channels=1"
ENCODERS = {
    # H.264 + AAC (mpeg4-generic) and H.264 + G.711 A-law, for recording tests
    "/h264aac": f"{H264} {AUDIO.format(rate=16000)} ! avenc_aac ! rtpmp4gpay name=pay1 pt=97",
    "/h264pcma": f"{H264} {AUDIO.format(rate=8000)} ! alawenc ! rtppcmapay name=pay1 pt=8",
    "/h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph264pay name=pay0 pt=96 config-interval=1",
    "/h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph265pay name=pay0 pt=96 config-interval=1",
}
mounts = server.get_mount_points()
for path, tail in ENCODERS.items():
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {SOURCE} ! {tail} )")
    factory.set_shared(True)
    factory.set_permissions(perms)
    mounts.add_factory(path, factory)

server.attach(None)
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
