@_exported import WebRaft
