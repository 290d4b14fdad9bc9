import Components
import Config
import Detection
import Foundation
import XCTest

final class ConfigDocumentationTests: XCTestCase {
  private var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  func testConfigReferenceIsInSyncWithTheCode() throws {
    let committed = try String(contentsOf: repository.appendingPathComponent("docs/CONFIG.md"), encoding: .utf8)
    XCTAssertEqual(
      committed, ConfigDocumentation.markdown(), "docs/CONFIG.md is stale: run `glip config docs > docs/CONFIG.md`")
  }

  func testEveryKeyAPluginReadsIsDocumented() throws {
    let (_, usage, _) = try assemble(tinyConfig)
    let slotKeys = Set(Assembler.slotKeys.map(\.name))
    let documented: [String: [PluginInfo]] = [
      "model.backbone": Registries.backbones.plugins, "model.neck": Registries.necks.plugins,
      "model.text_encoder": Registries.textEncoders.plugins, "model.fusion": Registries.fusions.plugins,
      "model.head": Registries.heads.plugins,
    ]
    for (path, plugins) in documented {
      let allowed = slotKeys.union(plugins.flatMap { $0.keys.map(\.name) })
      XCTAssertTrue(
        usage.askedKeys(at: path).isSubset(of: allowed),
        "\(path) reads undocumented keys: \(usage.askedKeys(at: path).subtracting(allowed))")
    }
    XCTAssertTrue(usage.askedKeys(at: "model").isSubset(of: Set(Assembler.modelKeys.map(\.name))))
  }

  func testEveryConfigUnderConfigsChecks() throws {
    Builtins.registerAll()
    let configs = repository.appendingPathComponent("configs")
    let files = FileManager.default.enumerator(atPath: configs.path)!.compactMap { $0 as? String }
      .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("_base_/") }
    XCTAssertFalse(files.isEmpty)
    for file in files {
      XCTAssertNoThrow(try CheckedExperiment(try LoadedConfig(path: configs.appendingPathComponent(file).path)), file)
    }
  }
}
