import CLibFuzzer
import Foundation

/// The signature libFuzzer calls for each input.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// Runs libFuzzer's loop with the process's command line (corpus directories and `-flag=value` options).
public enum FuzzDriver {
  public static func run(_ target: FuzzTarget) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
  }
}

/// Helpers shared by the harnesses.
public enum FuzzInput {
  /// The input as `Data` (copied: the harness must not keep libFuzzer's buffer).
  public static func data(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Data {
    guard let bytes, count > 0 else { return Data() }
    return Data(bytes: bytes, count: count)
  }

  /// The input as UTF-8 text, or nil when it is not valid UTF-8.
  public static func text(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> String? {
    String(data: data(bytes, count), encoding: .utf8)
  }

  /// A path in memory-backed storage where available, one per process, for parsers that read files.
  public static let scratchPath: String = {
    let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return directory + "/glip-fuzz-\(getpid())"
  }()

  /// Writes the input to `scratchPath` (with `suffix`) and returns the path.
  public static func file(_ bytes: UnsafePointer<UInt8>?, _ count: Int, suffix: String = "") -> String {
    let path = scratchPath + suffix
    _ = FileManager.default.createFile(atPath: path, contents: data(bytes, count))
    return path
  }

  /// The directory holding this package (fuzz/), for fixtures the harnesses share with the tests.
  public static let packageDirectory: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
}
