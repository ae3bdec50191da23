namespace FedMM.Site.Api;

/// <summary>How the API took an upload (<see cref="FedMMClient.UploadUpdateAsync"/>).</summary>
public enum UploadOutcome
{
    /// <summary>201: stored as this site's update.</summary>
    Created,

    /// <summary>200: an identical update was already stored (a retry); nothing changed.</summary>
    AlreadyStored,
}
