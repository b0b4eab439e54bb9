/// Parley's version, as `parley --version` prints it.
public enum ParleyVersion {
    /// Raised with every release; the minor number follows the issues landed.
    public static let current = "0.12.0"
}
