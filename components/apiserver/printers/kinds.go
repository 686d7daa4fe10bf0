package printers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// kinds is every kind with a table of its own. Adding a kind is adding its
// columns, a function computing one row's cells in column order, and an
// entry here.
//
// LimitRange is deliberately absent: upstream never gave it a printer, so
// `kubectl get limitranges` shows the default NAME, CREATED AT table.
var kinds = []kind{
	printerOf(corev1.SchemeGroupVersion.WithKind("Namespace"), namespaceColumns, namespaceCells),
	rowPrinterOf(corev1.SchemeGroupVersion.WithKind("Pod"), podColumns, podRow),
	printerOf(corev1.SchemeGroupVersion.WithKind("Node"), nodeColumns, nodeCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("Service"), serviceColumns, serviceCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("Endpoints"), endpointsColumns, endpointsCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("ConfigMap"), configMapColumns, configMapCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("Secret"), secretColumns, secretCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("ServiceAccount"), serviceAccountColumns, serviceAccountCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("Event"), eventColumns, coreEventCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("ReplicationController"), replicationControllerColumns, replicationControllerCells),
	printerOf(corev1.SchemeGroupVersion.WithKind("ResourceQuota"), resourceQuotaColumns, resourceQuotaCells),

	printerOf(appsv1.SchemeGroupVersion.WithKind("Deployment"), deploymentColumns, deploymentCells),
	printerOf(appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), replicaSetColumns, replicaSetCells),
	printerOf(appsv1.SchemeGroupVersion.WithKind("DaemonSet"), daemonSetColumns, daemonSetCells),
	printerOf(appsv1.SchemeGroupVersion.WithKind("StatefulSet"), statefulSetColumns, statefulSetCells),
	rowPrinterOf(appsv1.SchemeGroupVersion.WithKind("ControllerRevision"), controllerRevisionColumns, controllerRevisionRow),

	printerOf(batchv1.SchemeGroupVersion.WithKind("Job"), jobColumns, jobCells),
	printerOf(batchv1.SchemeGroupVersion.WithKind("CronJob"), cronJobColumns, cronJobCells),

	printerOf(coordinationv1.SchemeGroupVersion.WithKind("Lease"), leaseColumns, leaseCells),
	printerOf(discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), endpointSliceColumns, endpointSliceCells),
	printerOf(eventsv1.SchemeGroupVersion.WithKind("Event"), eventColumns, eventsEventCells),
	printerOf(networkingv1.SchemeGroupVersion.WithKind("Ingress"), ingressColumns, ingressCells),
	printerOf(autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), horizontalPodAutoscalerColumns, horizontalPodAutoscalerCells),
}
