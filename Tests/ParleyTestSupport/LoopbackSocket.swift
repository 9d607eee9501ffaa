// SPDX-License-Identifier: Apache-2.0
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP socket bound to 127.0.0.1 on a free port, made with the C library directly, for peers
/// that misbehave below what SwiftNIO lets a test do (refuse, stay silent, reset).
///
/// The address is written and read as raw bytes: no member of a C socket-address struct is named
/// (Glibc and SwiftNIO's C module both declare them, and which one a test target sees varies).
public enum LoopbackSocket {
    /// Binds a new TCP socket to 127.0.0.1, port 0, and listens when asked.
    ///
    /// - Parameters:
    ///   - listen: listen with this backlog, or nil to stay bound only (connections are refused).
    /// - Returns: the descriptor (the caller closes it) and the port the kernel chose.
    /// - Throws: `POSIXError` when a call fails.
    public static func bind(listen backlog: Int32? = nil) throws -> (descriptor: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        let size = 16  // sizeof(struct sockaddr_in)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 8)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
        storage.storeBytes(of: UInt16(AF_INET), as: UInt16.self)  // sin_family, host order
        // sin_port 0 (bytes 2 and 3); sin_addr 127.0.0.1 in network order (bytes 4 to 7).
        for (offset, byte) in [UInt8(127), 0, 0, 1].enumerated() {
            storage.storeBytes(of: byte, toByteOffset: 4 + offset, as: UInt8.self)
        }
        let address = storage.assumingMemoryBound(to: sockaddr.self)
        var length = socklen_t(size)
        guard Glibc.bind(fd, address, socklen_t(size)) == 0,
            backlog.map({ Glibc.listen(fd, $0) == 0 }) ?? true,
            getsockname(fd, address, &length) == 0
        else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        let port = Int(storage.load(fromByteOffset: 2, as: UInt8.self)) << 8 | Int(storage.load(fromByteOffset: 3, as: UInt8.self))
        return (fd, port)
    }
}
