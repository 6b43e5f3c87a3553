#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// This process's memory use, from `/proc/self/status` (Linux). Elsewhere every reading is nil
/// and the memory figures are left out of the report.
enum ProcessMemory {
    /// The resident set size now, in bytes (`VmRSS`).
    static func residentBytes() -> Int? {
        statusField("VmRSS:")
    }

    /// The peak resident set size since the process started or since ``resetPeak()``, in bytes
    /// (`VmHWM`).
    static func peakResidentBytes() -> Int? {
        statusField("VmHWM:")
    }

    /// Resets the peak (`VmHWM`) to the current RSS by writing `5` to `/proc/self/clear_refs`.
    /// Returns false when the kernel refused (older kernels, restricted containers); the peak
    /// then covers the process's whole life.
    @discardableResult
    static func resetPeak() -> Bool {
        #if os(Linux)
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
        #else
        return false
        #endif
    }

    /// Returns freed heap memory to the kernel (glibc's `malloc_trim`), so that an RSS
    /// difference measures what is live rather than what an earlier run left in the allocator.
    static func trimHeap() {
        #if canImport(Glibc)
        // `malloc.h` is not part of the Glibc module; look the function up instead (a null
        // handle is RTLD_DEFAULT on glibc).
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }

    /// A `kB` field of `/proc/self/status`, in bytes.
    private static func statusField(_ name: String) -> Int? {
        #if os(Linux)
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            // "VmRSS:	  123456 kB"
            guard let kilobytes = Int(line.dropFirst(name.count).filter(\.isNumber)) else { return nil }
            return kilobytes * 1024
        }
        return nil
        #else
        return nil
        #endif
    }
}
