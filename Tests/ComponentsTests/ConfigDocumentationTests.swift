import Components
import Config
import Detection
import Experiments
import Foundation
import TensorCoreTestSupport
import XCTest

final class ConfigDocumentationTests: XCTestCase {
  private var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  func testConfigReferenceIsInSyncWithTheCode() throws {
    let committed = try String(contentsOf: repository.appendingPathComponent("docs/CONFIG.md"), encoding: .utf8)
    let generated = ConfigDocumentation.markdown(builtinOnly: true)
    let (old, new) = (committed.components(separatedBy: "\n"), generated.components(separatedBy: "\n"))
    if let line = zip(old, new).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset
      ?? (old.count != new.count ? min(old.count, new.count) : nil)
    {
      XCTFail(
        "docs/CONFIG.md is stale at line \(line + 1): run `glip config docs > docs/CONFIG.md`\n"
          + "  file: \(line < old.count ? old[line] : "<end>")\n  code: \(line < new.count ? new[line] : "<end>")")
    }
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
    let files = try configFiles().filter { !$0.needsPretrainedText }
    XCTAssertFalse(files.isEmpty)
    for file in files { XCTAssertNoThrow(try CheckedExperiment(try LoadedConfig(path: file.path)), file.name) }
    let remaps = repository.appendingPathComponent("configs/remaps")
    for table in try FileManager.default.contentsOfDirectory(atPath: remaps.path) {
      XCTAssertNoThrow(try RemapTable(file: remaps.appendingPathComponent(table).path), table)
    }
  }

  /// The configs that read pretrained/all-MiniLM-L6-v2: skipped with a message when it is not fetched, failed under CI.
  func testEveryConfigWithPretrainedTextChecks() throws {
    _ = try Fixtures.pretrained("all-MiniLM-L6-v2/config.json")
    let files = try configFiles().filter(\.needsPretrainedText)
    XCTAssertFalse(files.isEmpty)
    for file in files { XCTAssertNoThrow(try CheckedExperiment(try LoadedConfig(path: file.path)), file.name) }
  }

  private struct ConfigFile {
    let name: String
    let path: String
    let needsPretrainedText: Bool
  }

  /// Every experiment config under configs/ (not the `_base_` fragments or the remap tables).
  private func configFiles() throws -> [ConfigFile] {
    Builtins.registerAll()
    let configs = repository.appendingPathComponent("configs")
    return try FileManager.default.enumerator(atPath: configs.path)!.compactMap { $0 as? String }
      .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("_base_/") && !$0.hasPrefix("remaps/") }
      .map { name in
        let path = configs.appendingPathComponent(name).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return ConfigFile(name: name, path: path, needsPretrainedText: text.lowercased().contains("minilm"))
      }
  }
}
