#!/usr/bin/python3
# GStreamer's rtsp-server as an independent RTSP peer for interop tests.
# Serves /h264 and /h265 (videotestsrc, 640x360@25) with RTSP Basic auth (viewer/gst-pass).
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
ENCODERS = {
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
