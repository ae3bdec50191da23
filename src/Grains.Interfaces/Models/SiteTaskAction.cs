namespace FedMM.Grains.Interfaces.Models;

/// <summary>What a site agent should do next.</summary>
[GenerateSerializer, Alias("fedmm.site-task-action")]
public enum SiteTaskAction
{
    /// <summary>Nothing to do now; poll again.</summary>
    Wait = 0,

    /// <summary>A round is collecting, the site participates and has not uploaded: train and upload.</summary>
    Train = 1,

    /// <summary>Every requested round has finished and none is queued: the agent may stop.</summary>
    Done = 2,
}
