package thumbnail

// WorkDirPrefix starts the name of every per-attempt work directory
// (platform/workdir.Sweep removes those left by killed workers).
const WorkDirPrefix = "vidpipe-thumbnail-"

// workDirPattern is the os.MkdirTemp pattern of a work directory.
const workDirPattern = WorkDirPrefix + "*"
