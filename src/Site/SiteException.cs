namespace FedMM.Site;

/// <summary>
/// A failure at the site the operator can act on: a missing or changed file, a folder that is not a
/// client folder, an option that does not fit the site's model. The message names the file, folder
/// or option; a command line shows it as one line.
/// </summary>
public sealed class SiteException(string message, Exception? inner = null) : Exception(message, inner);
