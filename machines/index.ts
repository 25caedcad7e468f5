/** The bundled example workflows. */
export { onboardingMachine } from './onboarding.js';
export { humanApprovalMachine, simulatedNotifier, REMINDER_MS, DEADLINE_MS, MAX_REMINDERS } from './humanApproval.js';
