#!/usr/bin/python3
# GStreamer's rtspsrc as an independent RTSP client for the restream tests.
# Usage: gst_rtsp_client.py URL SECONDS [USER PASSWORD]
# Plays URL over TCP for SECONDS after its first decoded picture, decoding every picture, then
# prints one JSON line: {"first_ms": ms from PLAYING to the first decoded picture,
# "frames": pictures decoded, "width", "height", "error": null or the pipeline's error}.
import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
url, seconds = sys.argv[1], float(sys.argv[2])
pipeline = Gst.parse_launch(
    "rtspsrc name=src protocols=tcp latency=0 ! decodebin ! videoconvert ! "
    "fakesink name=sink signal-handoffs=true sync=false"
)
src = pipeline.get_by_name("src")
src.set_property("location", url)
if len(sys.argv) > 4:
    src.set_property("user-id", sys.argv[3])
    src.set_property("user-pw", sys.argv[4])
result = {"first_ms": None, "frames": 0, "width": None, "height": None, "error": None}
loop = GLib.MainLoop()
started = time.monotonic()


def stop():
    loop.quit()
    return False


def on_handoff(_sink, buffer, pad):
    if result["first_ms"] is None:
        result["first_ms"] = round((time.monotonic() - started) * 1000, 1)
        caps = pad.get_current_caps().get_structure(0)
        result["width"] = caps.get_value("width")
        result["height"] = caps.get_value("height")
        GLib.timeout_add(int(seconds * 1000), stop)
    result["frames"] += 1


def on_message(_bus, message):
    if message.type == Gst.MessageType.ERROR:
        result["error"] = message.parse_error()[0].message
        loop.quit()
    elif message.type == Gst.MessageType.EOS:
        loop.quit()


pipeline.get_by_name("sink").connect("handoff", on_handoff)
bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
GLib.timeout_add(int((seconds + 20) * 1000), stop)
started = time.monotonic()
pipeline.set_state(Gst.State.PLAYING)
loop.run()
pipeline.set_state(Gst.State.NULL)
print(json.dumps(result), flush=True)
