# Runs as an unprivileged user: connects to every new abstract unix listening socket it sees
# (and every new path one) in /proc/net/unix and sends one FastCGI request; prints any reply.
import socket, struct, sys, time, os
def rec(t, rid, content):
    return struct.pack('>BBHHBx', 1, t, rid, len(content), 0) + content
def nv(k, v):
    k, v = k.encode(), v.encode()
    return bytes([len(k)]) + bytes([len(v)]) + k + v
params = b''.join(nv(k, v) for k, v in [('REQUEST_METHOD','GET'),('REQUEST_URI','/api/test/version'),
    ('SCRIPT_NAME','/api/test/version'),('QUERY_STRING',''),('SERVER_PROTOCOL','HTTP/1.1'),
    ('REMOTE_ADDR','127.0.0.1'),('REMOTE_USER','admin'),('HTTP_HOST','localhost'),('DOCUMENT_URI','/api/test/version')])
req = rec(1,1,struct.pack('>HB5x',1,0)) + rec(4,1,params) + rec(4,1,b'') + rec(5,1,b'')
def listening_abstract():
    out = set()
    for line in open('/proc/net/unix').read().splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and (f[7][:1] == '@' or 'cppapi' in f[7]) and f[5] == '01' and f[3] == '00010000':
            out.add(f[7])
    return out
seen = listening_abstract()
print('uid', os.getuid(), 'watching; existing', len(seen), flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for name in listening_abstract() - seen:
        seen.add(name)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect('\0' + name[1:] if name.startswith('@') else name)
            s.sendall(req)
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            print('CONNECTED to %s as uid %d, reply %d bytes:' % (name, os.getuid(), len(data)), data[8:200], flush=True)
        except Exception as e:
            print('%s: %r' % (name, e), flush=True)
    time.sleep(0.001)
