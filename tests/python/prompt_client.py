"""A python-socketio client of the gateway, as an app would write it: one-parameter handlers.

Usage: prompt_client.py URL TOKEN TRANSPORT   (TRANSPORT: websocket or polling)
Prints one JSON object: what the handlers received, and the errors python-socketio reported.
"""
import json
import sys
import threading

import socketio

url, token, transport = sys.argv[1:4]
got = {"responses": [], "sessions": []}
done = threading.Event()
sio = socketio.Client(reconnection=False)


@sio.on("prompt-response")
def on_response(data):
    got["responses"].append(data)
    done.set()


@sio.on("session")
def on_session(data):
    got["sessions"].append(data)


@sio.on("error")
def on_error(data):
    got["responses"].append({"error": data})
    done.set()


try:
    sio.connect(url, auth={"token": token}, transports=[transport], wait_timeout=10)
    got["sid"] = sio.get_sid()
    sio.emit("send-prompt", {"prompt": "hello from python"})
    got["answered"] = done.wait(10)
finally:
    sio.disconnect()
print(json.dumps(got))
