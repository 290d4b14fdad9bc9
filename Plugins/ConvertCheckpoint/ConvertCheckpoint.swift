import Foundation
import PackagePlugin

/// `swift package convert-checkpoint --from X.pth --remap configs/remaps/NAME.yaml --out Y.safetensors`: runs
/// `glip convert` with the same arguments.
@main
struct ConvertCheckpoint: CommandPlugin {
  func performCommand(context: PluginContext, arguments: [String]) async throws {
    let glip = try context.tool(named: "glip")
    let process = Process()
    process.executableURL = glip.url
    process.arguments = ["convert"] + arguments
    process.currentDirectoryURL = context.package.directoryURL
    try process.run()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
      Diagnostics.error("checkpoint conversion failed (glip exited with \(process.terminationStatus))")
    }
  }
}
