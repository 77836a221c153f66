@_exported import WebRaftNIO
