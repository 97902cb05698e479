// Imported first by the benchmark entry points (ES modules evaluate in import order), so the
// product code and the AWS SDK see these before their modules initialise.
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
export {};
