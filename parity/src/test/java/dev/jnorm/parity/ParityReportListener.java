package dev.jnorm.parity;

import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestPlan;

/**
 * Writes the parity report once every test of the run has finished (registered through
 * {@code META-INF/services/org.junit.platform.launcher.TestExecutionListener}).
 */
public final class ParityReportListener implements TestExecutionListener {
    @Override
    public void testPlanExecutionFinished(TestPlan testPlan) {
        ParityReport.write();
    }
}
