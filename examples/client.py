#!/usr/bin/env python3
"""A small client of `facerec serve` using only the standard library and numpy.

Sends a frame held in a numpy array (height x width x 3, uint8, RGB) as raw bytes
to POST /api/v1/recognize: the server wraps the pixels without decoding or temporary
files. Here the frame is read from a binary PPM (P6) file, which needs no imaging
library; a camera loop would pass its frames the same way.

    python3 examples/client.py --port 8080 --key KEY frame.ppm
"""
import argparse
import http.client
import json
import sys

import numpy as np


def read_ppm(path):
    """A binary PPM (P6, maxval 255) as an H x W x 3 uint8 array."""
    data = open(path, 'rb').read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b'#':
            pos = data.index(b'\n', pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b'P6' or fields[3] != b'255':
        raise ValueError('expected a binary PPM with maxval 255')
    w, h = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(data, dtype=np.uint8, count=w * h * 3, offset=pos + 1)
    return pixels.reshape(h, w, 3)


def recognize(frame, host, port, key):
    """POSTs an RGB uint8 frame as raw pixels; returns the decoded JSON answer."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w, c = frame.shape
    if c != 3:
        raise ValueError('expected an H x W x 3 RGB frame')
    query = 'width=%d&height=%d&stride=%d&format=rgb' % (w, h, frame.strides[0])
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request('POST', '/api/v1/recognize?' + query, body=frame.tobytes(),
                 headers={'Content-Type': 'application/octet-stream', 'X-API-Key': key})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    if resp.status != 200:
        raise RuntimeError('%d %s' % (resp.status, answer['error']['message']))
    return answer


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=8080)
    p.add_argument('--key', required=True, help='an API key (X-API-Key)')
    p.add_argument('ppm', help='a binary PPM (P6) frame')
    a = p.parse_args()
    answer = recognize(read_ppm(a.ppm), a.host, a.port, a.key)
    for f in answer['faces']:
        b = f['box']
        who = f['name'] if f['known'] else 'unknown'
        print('%s at (%.0f, %.0f, %.0f x %.0f), score %.2f' % (who, b['x'], b['y'], b['width'],
                                                               b['height'], f['score']))
    print('%d face(s), pipeline %.1f ms' % (len(answer['faces']), answer['timing']['pipeline_ms']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
