/// The formats `forge export` writes.
enum ExportFormat: String, CaseIterable {
  case systemd
  case kubernetes
  case compose

  static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

  /// Every file of the export, in a fixed order; an error before anything is written.
  func files(_ plan: ExportPlan) throws(ConfigError) -> [ExportFile] {
    switch self {
    case .systemd: return SystemdExport.files(plan)
    case .kubernetes: return try KubernetesExport.files(plan)
    case .compose: return ComposeExport.files(plan)
    }
  }
}
