#!/usr/bin/env python3
# Memory per idle joined connection, WebSocket or event stream (HTTP transport), measured from
# the server's RSS (/proc) before and after opening N connections that each join one room.
# Usage: scripts/idle-connections.py PORT N SERVER_PID ws|sse   (docs/PERFORMANCE.md, issue 15)
import socket, sys, time, os, re, json
port=int(sys.argv[1]); n=int(sys.argv[2]); pid=int(sys.argv[3]); mode=sys.argv[4]
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
time.sleep(1); before=rss(pid); socks=[]
import base64
for i in range(n):
    s=socket.create_connection(("127.0.0.1",port))
    if mode=="sse":
        s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
        data=b""
        while b'"token":"' not in data or not re.search(rb'"token":"([0-9a-f]{32})"', data): data+=s.recv(4096)
        tok=re.search(rb'"token":"([0-9a-f]{32})"', data).group(1).decode()
        body=json.dumps({"type":"join","room":"idle","nick":f"n{i}","ref":"j"}).encode()
        p=socket.create_connection(("127.0.0.1",port))
        p.sendall(f"POST /events/{tok} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()+body)
        while p.recv(4096): pass
        p.close()
        d=b""
        while b'"type":"history"' not in d: d+=s.recv(65536)
    else:
        key=base64.b64encode(os.urandom(16)).decode()
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        d=b""
        while b"\r\n\r\n" not in d: d+=s.recv(4096)
        payload=json.dumps({"type":"join","room":"idle","nick":f"n{i}","ref":"j"}).encode()
        frame=bytes([0x81,0x80|len(payload)])+b"\0\0\0\0"+payload
        s.sendall(frame)
        d=b""
        while b'"type":"history"' not in d: d+=s.recv(65536)
    s.setblocking(False)
    socks.append(s)
    # drain presence occasionally
    if i%200==0:
        for t in socks:
            try:
                while t.recv(1<<20): pass
            except BlockingIOError: pass
time.sleep(5)
for t in socks:
    try:
        while t.recv(1<<20): pass
    except BlockingIOError: pass
    except Exception: pass
time.sleep(2)
after=rss(pid)
print(mode, n, "KB/conn %.2f" % ((after-before)/n), "before MB", before//1024, "after MB", after//1024)
