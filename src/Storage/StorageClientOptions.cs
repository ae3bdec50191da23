using Azure.Core;
using Azure.Storage.Blobs;

namespace FedMM.Storage;

/// <summary>
/// Options of every blob client FedMM makes (the API's and the silo's artifact store, grain state):
/// few, short retries, so storage that refuses connections is reported (the API answers 503)
/// within about a second instead of after the SDK's default back-off of 20-30 s; a stalled
/// request ends after the network timeout, which a 4 MiB block on a working link never reaches.
/// </summary>
public static class StorageClientOptions
{
    /// <summary>New options for a <see cref="BlobServiceClient"/>.</summary>
    public static BlobClientOptions Blobs()
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(1);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(20);
        return options;
    }
}
